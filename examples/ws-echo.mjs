// A WebSocket echo server and client (the `ws` package) for examples/websocket.yaml:
//   node examples/ws-echo.mjs server            # echo server on 127.0.0.1:10002
//   node examples/ws-echo.mjs client [url]      # sends 5 messages through Legate (ws://127.0.0.1:10000/chat)
import { WebSocket, WebSocketServer } from 'ws';

const [mode = 'server', url = 'ws://127.0.0.1:10000/chat'] = process.argv.slice(2);
if (mode === 'server') {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 10002 });
  wss.on('connection', (ws, req) => {
    console.log(`connection from ${req.headers['x-forwarded-for'] ?? req.socket.remoteAddress}`);
    ws.on('message', (data, binary) => ws.send(data, { binary }));
  });
  console.log('WebSocket echo server on ws://127.0.0.1:10002');
} else {
  const ws = new WebSocket(url);
  let n = 0;
  ws.on('open', () => ws.send(`hello ${n}`));
  ws.on('message', (m) => {
    console.log(`echo: ${m}`);
    if (++n < 5) ws.send(`hello ${n}`);
    else ws.close();
  });
  ws.on('error', (e) => { console.error(e.message); process.exitCode = 1; });
}
