"""Caffe's network definitions: `archc import` (prototxt → spec) and `archc export
--caffe` (spec → prototxt), through a small prototxt reader of archc's own."""
