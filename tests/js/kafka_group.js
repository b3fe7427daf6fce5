// kafka_group.js — kafkajs (a Kafka client written by others) against mqbridged's
// kafka_api: produce PRODUCE records (key k<i>, value js-<i>) to TOPIC, then consume
// TOPIC from the beginning in consumer group GROUP until EXPECT records were seen,
// committing as it goes; print each record as one JSON line (p, o, k, v) and exit 0.
// Used by tests/integration/test_kafka_api_groups.c. Env: BROKER, TOPIC, GROUP,
// PRODUCE, EXPECT, TIMEOUT_MS; SASL_USER and SASL_PASSWORD: authenticate with SASL/PLAIN
// (test_kafka_api_sasl.c); SSL_CA (a PEM file): connect over TLS trusting that CA, with
// SSL_CERT and SSL_KEY as the client certificate when set (test_kafka_api_tls.c).
'use strict';
const fs = require('fs');
const { Kafka, logLevel } = require('kafkajs');

const env = (k, d) => process.env[k] || d;
const broker = env('BROKER', '127.0.0.1:9092');
const topic = env('TOPIC', 'tel');
const group = env('GROUP', 'js');
const produce = parseInt(env('PRODUCE', '0'), 10);
const expect = parseInt(env('EXPECT', '0'), 10);
const timeoutMs = parseInt(env('TIMEOUT_MS', '30000'), 10);

async function main() {
  const sasl = process.env.SASL_USER ? { mechanism: 'plain', username: process.env.SASL_USER,
                                         password: env('SASL_PASSWORD', '') } : undefined;
  const ssl = process.env.SSL_CA ? {
    ca: [fs.readFileSync(process.env.SSL_CA)],
    cert: process.env.SSL_CERT ? fs.readFileSync(process.env.SSL_CERT) : undefined,
    key: process.env.SSL_KEY ? fs.readFileSync(process.env.SSL_KEY) : undefined,
  } : undefined;
  const kafka = new Kafka({ clientId: 'mqb-js', brokers: [broker], logLevel: logLevel.WARN,
                            retry: { retries: 3 }, sasl, ssl });
  if (produce > 0) {
    const p = kafka.producer({ allowAutoTopicCreation: false });
    await p.connect();
    const messages = [];
    for (let i = 0; i < produce; i++)
      messages.push({ key: `k${i}`, value: `js-${i}` });
    await p.send({ topic, acks: -1, messages });
    await p.disconnect();
  }
  const c = kafka.consumer({ groupId: group, sessionTimeout: 10000, heartbeatInterval: 500,
                             rebalanceTimeout: 10000 });
  const seen = new Map();
  await c.connect();
  await c.subscribe({ topic, fromBeginning: true });
  let done;
  const finished = new Promise((res) => { done = res; });
  await c.run({
    autoCommitInterval: 200,
    eachMessage: async ({ partition, message }) => {
      const id = `${partition}/${message.offset}`;
      if (!seen.has(id)) {
        seen.set(id, true);
        process.stdout.write(JSON.stringify({ p: partition, o: Number(message.offset),
          k: message.key ? message.key.toString() : null,
          v: message.value ? message.value.toString() : null }) + '\n');
      }
      if (seen.size >= expect) done();
    },
  });
  const timer = setTimeout(() => done(), timeoutMs);
  await finished;
  clearTimeout(timer);
  await c.commitOffsets([]).catch(() => {});
  await c.disconnect();
  if (seen.size < expect) {
    process.stderr.write(`kafka_group.js: saw ${seen.size} of ${expect} records\n`);
    process.exit(1);
  }
}

main().catch((e) => { process.stderr.write(`kafka_group.js: ${e.stack || e}\n`); process.exit(2); });
