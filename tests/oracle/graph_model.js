// Loads a TF.js graph model (model.json + .bin shards) from disk into @tensorflow/tfjs, which
// has no file:// handler of its own in node. Shared by tests/oracle/golden.js and bench/peers.js.
'use strict';
const fs = require('fs');
const path = require('path');

async function loadGraphModel(tf, jsonPath) {
  const json = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
  const weightSpecs = [];
  const buffers = [];
  for (const group of json.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(path.dirname(jsonPath), p)));
  }
  return tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: json.modelTopology, weightSpecs, weightData: new Uint8Array(Buffer.concat(buffers)).buffer,
    format: json.format, generatedBy: json.generatedBy, convertedBy: json.convertedBy,
    signature: json.signature, userDefinedMetadata: json.userDefinedMetadata,
  }));
}

module.exports = { loadGraphModel };
