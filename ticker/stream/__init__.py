"""The stream transport: how `GET /api/v1/stream` reaches its readers.

- `request`: what a stream request asks for (channels, where to resume).
- `subscriber`: what the fan-out writes to; one subscriber per open stream.
- `frames`: server-sent-event frames, encoded once for every subscriber.
- `asgi`: the stream as a Starlette response (errors, and clients the fast path
  leaves to the app); its route is in ticker/routes/stream.py.
- `fastpath`: the protocol uvicorn runs (`ticker.stream.fastpath:StreamProtocol`),
  which turns a valid stream request into a connection the fan-out writes to.
- `heads`, `sockets`: the bounds on request heads and on stream sockets.

The fan-out (ticker/fanout/) knows only `Subscriber` and `frames`; the web app
(ticker/routes/) imports this package, never the reverse.
"""
