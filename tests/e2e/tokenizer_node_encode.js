// usage: node tokenizer_node_encode.js PACKAGE_DIR TEXT_FILE OUT_FILE
// The reference encoder of npm's gpt-3-encoder, with one change that keeps its results
// and makes it linear: its `bpe_tokens = bpe_tokens.concat(new_tokens)` copies the whole
// list for every word; here the ids are pushed.
const fs = require('fs'), path = require('path');
const dir = process.argv[2];
let src = fs.readFileSync(path.join(dir, 'Encoder.js'), 'utf8');
const slow = 'bpe_tokens = bpe_tokens.concat(new_tokens)';
if (!src.includes(slow)) { console.error('Encoder.js: unexpected source'); process.exit(2); }
src = src.replace(slow, 'for (const t of new_tokens) bpe_tokens.push(t)');
const m = { exports: {} };
new Function('require', '__dirname', 'module', 'exports', src)(require, dir, m, m.exports);
const text = fs.readFileSync(process.argv[3], 'utf8');
fs.writeFileSync(process.argv[4], m.exports.encode(text).join(' ') + '\n');
