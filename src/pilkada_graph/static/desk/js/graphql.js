// The only way the console talks to the server: GraphQL over HTTP, and subscriptions over a tiny
// graphql-transport-ws client (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md).
// Frontend teams may copy this file as it is.

/** An answer with `errors`: the message of the first, all of them in `errors`. */
export class GraphQLError extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join("; "));
    this.errors = errors;
  }
}

export class GraphQLClient {
  /** @param {{url: string, token?: () => string | null}} options */
  constructor({ url, token }) {
    this.url = url;
    this.token = token || (() => null);
    this.live = new LiveSocket(url.replace(/^http/, "ws"), () => this.token());
  }

  headers() {
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    const token = this.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    return headers;
  }

  /** Run a query or mutation; resolves to `data`, rejects with GraphQLError when `errors` came back. */
  async request(query, variables = {}) {
    const response = await fetch(this.url, { method: "POST", headers: this.headers(),
      body: JSON.stringify({ query, variables }) });
    let body;
    try {
      body = await response.json();
    } catch {
      throw new GraphQLError([{ message: `HTTP ${response.status}` }]);
    }
    if (body.errors && body.errors.length) throw new GraphQLError(body.errors);
    if (!response.ok) throw new GraphQLError([{ message: `HTTP ${response.status}` }]);
    return body.data;
  }

  /**
   * Subscribe; `sink.next(data)` per result, `sink.resync()` when events may have been missed
   * (the server said MISSED_EVENTS, or the socket reconnected): re-query, then keep listening.
   * Returns the function that unsubscribes.
   */
  subscribe(query, variables, sink) {
    return this.live.subscribe({ query, variables }, sink);
  }

  /** Reconnect with the current token (after logging in or out). */
  reconnect() {
    this.live.restart();
  }
}

const MAX_BACKOFF_MS = 10000;

/** One WebSocket for every subscription of the page, re-established (and re-subscribed) when it drops. */
export class LiveSocket {
  constructor(url, token) {
    this.url = url;
    this.token = token;
    this.socket = null;
    this.acked = false;
    this.nextId = 1;
    this.subscriptions = new Map(); // id -> {payload, sink}
    this.listeners = new Set();
    this.state = "idle";
    this.backoff = 500;
    this.retryTimer = null;
  }

  /** Listen to "connecting" | "live" | "offline" | "idle". */
  onState(listener) {
    this.listeners.add(listener);
    listener(this.state);
    return () => this.listeners.delete(listener);
  }

  setState(state) {
    this.state = state;
    for (const listener of this.listeners) listener(state);
  }

  subscribe(payload, sink) {
    const id = String(this.nextId++);
    this.subscriptions.set(id, { payload, sink });
    if (this.acked) this.send({ id, type: "subscribe", payload });
    else this.connect();
    return () => {
      if (!this.subscriptions.delete(id)) return;
      if (this.acked) this.send({ id, type: "complete" });
      if (!this.subscriptions.size) this.close();
    };
  }

  connect() {
    if (this.socket || this.retryTimer) return;
    this.setState("connecting");
    const socket = new WebSocket(this.url, "graphql-transport-ws");
    this.socket = socket;
    socket.onopen = () => {
      const token = this.token();
      socket.send(JSON.stringify({ type: "connection_init",
        payload: token ? { Authorization: `Bearer ${token}` } : {} }));
    };
    socket.onmessage = (event) => this.receive(JSON.parse(event.data));
    socket.onclose = () => this.dropped(socket);
  }

  receive(message) {
    const entry = this.subscriptions.get(message.id);
    switch (message.type) {
      case "connection_ack":
        this.acked = true;
        this.backoff = 500;
        this.setState("live");
        for (const [id, entry] of this.subscriptions) {
          this.send({ id, type: "subscribe", payload: entry.payload });
          // Whatever happened while the socket was down is lost: re-query once back.
          if (entry.missed) entry.sink.resync && entry.sink.resync();
          entry.missed = false;
        }
        break;
      case "ping":
        this.send({ type: "pong" });
        break;
      case "next":
        if (!entry) break;
        if ((message.payload.errors || []).some((e) => e.extensions && e.extensions.code === "MISSED_EVENTS")) {
          entry.sink.resync && entry.sink.resync();
        } else if (message.payload.errors) {
          entry.sink.error && entry.sink.error(new GraphQLError(message.payload.errors));
        } else {
          entry.sink.next(message.payload.data);
        }
        break;
      case "error":
        if (entry) {
          this.subscriptions.delete(message.id);
          entry.sink.error && entry.sink.error(new GraphQLError(message.payload));
        }
        break;
      case "complete":
        this.subscriptions.delete(message.id);
        break;
    }
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  dropped(socket) {
    if (socket !== this.socket) return;
    const wasLive = this.acked;
    this.socket = null;
    this.acked = false;
    if (!this.subscriptions.size) {
      this.setState("idle");
      return;
    }
    this.setState("offline");
    if (wasLive) for (const entry of this.subscriptions.values()) entry.missed = true;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, this.backoff);
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
  }

  close() {
    const socket = this.socket;
    this.socket = null;
    this.acked = false;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (socket) socket.close(1000);
    this.setState("idle");
  }

  /** Close and open again (a new token), keeping the subscriptions. */
  restart() {
    this.close();
    if (this.subscriptions.size) this.connect();
  }
}
