// rhea_client.js - the rhea (Node) peer of tests/integration/test_amqp.c.
//   node rhea_client.js PORT send ADDR N     send N messages (data section "r<i>",
//                                            application property src=rhea, i=<i>,
//                                            x-opt-partition-key "k<i>"); prints
//                                            "accepted A rejected R"
//   node rhea_client.js PORT recv ADDR IDLE_MS  receive (accept each) until idle;
//                                            prints "received N" and one line per
//                                            message "m <partition> <offset> <body>"
// rhea comes from tests/js/node_modules (npm ci in tests/js).
'use strict';
const path = require('path');
const rhea = require(path.join(__dirname, '..', 'js', 'node_modules', 'rhea'));

const [port, cmd, addr, arg] = process.argv.slice(2);
const container = rhea.create_container();
// a username without a password makes rhea speak SASL ANONYMOUS (mqbridged requires SASL)
const conn = container.connect({ host: '127.0.0.1', port: Number(port), reconnect: false,
                                 username: 'anonymous' });

if (cmd === 'send') {
  const n = Number(arg);
  let sent = 0, accepted = 0, rejected = 0;
  const sender = conn.open_sender(addr);
  const done = () => {
    if (accepted + rejected === n) {
      console.log(`accepted ${accepted} rejected ${rejected}`);
      conn.close();
    }
  };
  sender.on('sendable', () => {
    while (sender.sendable() && sent < n) {
      sender.send({
        body: rhea.message.data_section(Buffer.from(`r${sent}`)),
        application_properties: { src: 'rhea', i: sent },
        message_annotations: { 'x-opt-partition-key': `k${sent}` },
      });
      sent++;
    }
  });
  sender.on('accepted', () => { accepted++; done(); });
  sender.on('rejected', () => { rejected++; done(); });
} else {
  let n = 0, timer = null;
  const idle = Number(arg);
  const arm = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => { console.log(`received ${n}`); conn.close(); }, idle);
  };
  const receiver = conn.open_receiver({ source: addr, autoaccept: false, credit_window: 20 });
  receiver.on('message', (ctx) => {
    const a = ctx.message.message_annotations || {};
    const body = ctx.message.body && ctx.message.body.content ? ctx.message.body.content
      : ctx.message.body;
    console.log(`m ${a['x-opt-partition']} ${a['x-opt-offset']} ${Buffer.from(body).toString()}`);
    n++;
    ctx.delivery.accept();
    arm();
  });
  arm();
}
conn.on('connection_error', (ctx) => { console.error('connection error', ctx.connection.error); });
conn.on('disconnected', (ctx) => { if (ctx.error) console.error('disconnected', ctx.error.message); });
