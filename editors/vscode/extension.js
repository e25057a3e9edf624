// The VS Code client: starts `archc lsp` (the command is the setting archc.command) for
// .arch files and hands the editor to it.  Everything archc knows comes from the server.
"use strict";
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace.getConfiguration("archc").get("command");
  client = new LanguageClient(
    "archc",
    "archc",
    { command, args, options: { env: process.env } },
    { documentSelector: [{ language: "arch" }] }
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
