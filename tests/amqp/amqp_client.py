#!/usr/bin/python3
"""amqp_client.py - the AMQP 1.0 peer of tests/integration/test_amqp.c, written with
Debian's python3-qpid-proton (run it with /usr/bin/python3).

  send URL ADDR N [--accepted FILE] [--start I]
      send N messages (value "v<i>", application properties p=x<i>, n=<i>, subject,
      message id, x-opt-partition-key "k<i mod 97>"); prints "accepted A rejected R";
      with --accepted, appends "<i>" for each message settled accepted (flushed at once).
  recv URL ADDR --mode accept|release|reject|modified [--idle S] [--credit C] [--out FILE]
       [--delay S]  (sleep S seconds before settling each message)
      receive until nothing came for S seconds; --out gets "<partition> <offset>
      <delivery-count> <value>" per message; prints "received N".
  probe URL ADDR [--user U --password P] [--credit C] [--send] [--links K]
      attach a receiver (or sender with --send) and print the outcome: "ok" or the
      error condition's name; with K > 1 links on one connection "opened O refused R".
  send ... --size B pads each value to B bytes (oversized-message checks).
  --tls (send, probe): amqps with a client that accepts any server certificate.
"""
import sys
import time
import argparse
from proton import Message, Condition, SSLDomain
from proton.handlers import MessagingHandler
from proton.reactor import Container


TLS = None   # --tls: an SSLDomain that accepts the test's self-signed certificate


def conn_opts(**kw):
    if TLS:
        kw["ssl_domain"] = TLS
    return kw


class Sender(MessagingHandler):
    def __init__(self, url, addr, n, start, accepted_file, size=0):
        super().__init__(auto_settle=True)
        self.size = size
        self.url, self.addr, self.n, self.i = url, addr, n, start
        self.end = start + n
        self.accepted = self.rejected = 0
        self.out = open(accepted_file, "a") if accepted_file else None
        self.tags = {}

    def on_start(self, event):
        conn = event.container.connect(self.url, **conn_opts(allowed_mechs="ANONYMOUS",
                                                              reconnect=False))
        event.container.create_sender(conn, self.addr)

    def on_sendable(self, event):
        while event.sender.credit and self.i < self.end:
            i = self.i
            body = ("v%d" % i).encode()
            if self.size:
                body = body + b"x" * (self.size - len(body))
            m = Message(body=body, inferred=True,
                        properties={"p": "x%d" % i, "n": i}, subject="s", id="id%d" % i)
            m.annotations = {"x-opt-partition-key": "k%d" % (i % 97)}
            d = event.sender.send(m)
            self.tags[d] = i
            self.i += 1

    def on_accepted(self, event):
        self.accepted += 1
        if self.out:
            self.out.write("%d\n" % self.tags.pop(event.delivery, -1))
            self.out.flush()
        self.done(event)

    def on_rejected(self, event):
        self.rejected += 1
        c = event.delivery.remote.condition
        print("rejected", c.name if c else None, file=sys.stderr)
        self.done(event)

    def done(self, event):
        if self.accepted + self.rejected == self.n:
            event.connection.close()

    def on_transport_error(self, event):
        print("transport error", event.transport.condition, file=sys.stderr)


class Receiver(MessagingHandler):
    def __init__(self, url, addr, mode, idle, credit, out, delay=0.0):
        super().__init__(prefetch=credit, auto_accept=False)
        self.delay = delay
        self.url, self.addr, self.mode, self.idle = url, addr, mode, idle
        self.out = open(out, "w") if out else None
        self.n = 0
        self.timer = None

    def on_start(self, event):
        self.container = event.container
        conn = event.container.connect(self.url, allowed_mechs="ANONYMOUS", reconnect=False)
        self.conn = conn
        event.container.create_receiver(conn, self.addr)
        self.arm()

    def arm(self):
        if self.timer:
            self.timer.cancel()
        self.timer = self.container.schedule(self.idle, self)

    def on_timer_task(self, event):
        self.conn.close()

    def on_message(self, event):
        m = event.message
        a = m.annotations or {}
        if self.out:
            self.out.write("%d %s %d %s\n" % (int(a.get("x-opt-partition", -1)),
                                              a.get("x-opt-offset"), m.delivery_count,
                                              m.body.decode()))
        self.n += 1
        if self.out:
            self.out.flush()
        if self.delay:
            time.sleep(self.delay)
        if self.mode == "accept":
            self.accept(event.delivery)
        elif self.mode == "release":
            self.release(event.delivery, delivered=False)
        elif self.mode == "modified":
            self.release(event.delivery, delivered=True)
        else:
            self.reject(event.delivery)
        self.arm()

    def on_link_error(self, event):
        print("link error", event.link.remote_condition.name, file=sys.stderr)
        self.conn.close()
        self.timer.cancel()


class Probe(MessagingHandler):
    def __init__(self, url, addr, send, user, password, credit, links=1):
        super().__init__(prefetch=credit)
        self.url, self.addr, self.send, self.user, self.pw = url, addr, send, user, password
        self.result = "timeout"
        self.links, self.opened, self.errors = links, 0, {}

    def on_start(self, event):
        kw = dict(reconnect=False)
        if self.user:
            kw.update(user=self.user, password=self.pw, allowed_mechs="PLAIN",
                      allow_insecure_mechs=True)
        else:
            kw.update(allowed_mechs="ANONYMOUS")
        self.conn = event.container.connect(self.url, **conn_opts(**kw))
        for i in range(self.links):
            if self.send:
                event.container.create_sender(self.conn, self.addr, name="l%d" % i)
            else:
                event.container.create_receiver(self.conn, self.addr, name="l%d" % i)
        event.container.schedule(2, self)

    def on_link_opened(self, event):
        if event.link.remote_source.address or event.link.remote_target.address:
            self.result = "ok"
            self.opened += 1

    def on_link_error(self, event):
        name = event.link.remote_condition.name
        self.result = name
        self.errors[name] = self.errors.get(name, 0) + 1
        if self.links == 1:
            self.conn.close()

    def on_transport_error(self, event):
        c = event.transport.condition
        self.result = c.name if c else "transport-error"

    def on_timer_task(self, event):
        self.conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd")
    ap.add_argument("url")
    ap.add_argument("addr")
    ap.add_argument("n", nargs="?", type=int, default=0)
    ap.add_argument("--accepted")
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--mode", default="accept")
    ap.add_argument("--idle", type=float, default=2.0)
    ap.add_argument("--credit", type=int, default=10)
    ap.add_argument("--out")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--send", action="store_true")
    ap.add_argument("--size", type=int, default=0)
    ap.add_argument("--links", type=int, default=1)
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--tls", action="store_true")
    a = ap.parse_args()
    if a.tls:
        global TLS
        TLS = SSLDomain(SSLDomain.MODE_CLIENT)
        TLS.set_peer_authentication(SSLDomain.ANONYMOUS_PEER)
    if a.cmd == "send":
        h = Sender(a.url, a.addr, a.n, a.start, a.accepted, a.size)
        Container(h).run()
        print("accepted %d rejected %d" % (h.accepted, h.rejected))
    elif a.cmd == "recv":
        h = Receiver(a.url, a.addr, a.mode, a.idle, a.credit, a.out, a.delay)
        Container(h).run()
        if h.out:
            h.out.close()
        print("received %d" % h.n)
    else:
        h = Probe(a.url, a.addr, a.send, a.user, a.password, a.credit, a.links)
        Container(h).run()
        if a.links > 1:
            print("opened %d refused %d" % (h.opened, sum(h.errors.values())))
        else:
            print(h.result)


if __name__ == "__main__":
    main()
