// A central system built on the npm `ocpp-rpc` package, for benchmarks: it answers what the
// simulator sends (OCPP 1.6 and 2.0.1) with strict mode on, so every message is validated
// against the package's OCPP schemas in both directions. It keeps nothing: it measures the RPC
// framework, not storage.
//
// Usage: node csms.js PORT
'use strict';
const { RPCServer } = require('ocpp-rpc');

const port = Number(process.argv[2]);
const now = () => new Date().toISOString();

const server = new RPCServer({
  protocols: ['ocpp2.0.1', 'ocpp1.6'],
  strictMode: true,
  pingIntervalMs: 0,
});

server.on('client', (client) => {
  const v16 = client.protocol === 'ocpp1.6';
  client.handle('BootNotification', () => ({ currentTime: now(), interval: 300, status: 'Accepted' }));
  client.handle('Heartbeat', () => ({ currentTime: now() }));
  client.handle('StatusNotification', () => ({}));
  client.handle('MeterValues', () => ({}));
  client.handle('Authorize', () => (v16 ? { idTagInfo: { status: 'Accepted' } } : { idTokenInfo: { status: 'Accepted' } }));
  client.handle('StartTransaction', () => ({ transactionId: 1, idTagInfo: { status: 'Accepted' } }));
  client.handle('StopTransaction', () => ({}));
  client.handle('TransactionEvent', () => ({}));
});

server.listen(port, '127.0.0.1').then(() => {}, (e) => { console.error(e); process.exit(1); });
