// Tokenises files with the extension's TextMate grammar, as VS Code does (vscode-textmate
// over the Oniguruma regex engine), and fails on any token the grammar marks
// invalid.illegal: `node test/tokenize.js FILE...` (tests/test_editors.py passes every
// bundled spec and every spec in the README).
"use strict";
const fs = require("fs");
const path = require("path");
const textmate = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

async function main(files) {
  const wasm = fs.readFileSync(require.resolve("vscode-oniguruma/release/onig.wasm"));
  await oniguruma.loadWASM(wasm.buffer);
  const registry = new textmate.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (text) => new oniguruma.OnigString(text),
    }),
    loadGrammar: async () => {
      const file = path.join(__dirname, "..", "syntaxes", "arch.tmLanguage.json");
      return textmate.parseRawGrammar(fs.readFileSync(file, "utf8"), file);
    },
  });
  const grammar = await registry.loadGrammar("source.arch");
  let bad = 0;
  let tokens = 0;
  for (const file of files) {
    const lines = fs.readFileSync(file, "utf8").split(/\r?\n/);
    let state = textmate.INITIAL;
    lines.forEach((line, i) => {
      const result = grammar.tokenizeLine(line, state);
      for (const token of result.tokens) {
        tokens++;
        if (token.scopes.some((scope) => scope.startsWith("invalid"))) {
          bad++;
          const text = line.slice(token.startIndex, token.endIndex);
          console.log(`${file}:${i + 1}:${token.startIndex + 1}: illegal token ${JSON.stringify(text)}`);
        }
      }
      state = result.ruleStack;
    });
  }
  console.log(`${files.length} files, ${tokens} tokens, ${bad} illegal`);
  process.exit(bad ? 1 : 0);
}

main(process.argv.slice(2)).catch((error) => {
  console.error(error);
  process.exit(2);
});
