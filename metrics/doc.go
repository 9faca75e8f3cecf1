// Package metrics exposes Latchkey's Prometheus metrics at GET /metrics: a
// counter and a latency histogram per route pattern and status, and the
// domain's outcomes — sign-ins and refreshes by outcome, refresh-token
// reuse detections, rate-limit refusals by limit, limiter failures. Read at
// scrape time: the password hasher's capacity, load and refusals
// (WatchHasher), and whether the database answers (WatchDatabase). It
// implements auth.Observer, so the domain reports outcomes without
// importing Prometheus, and it keeps the request path cheap: label values
// are resolved once and looked up in a map afterwards.
//
// Every metric is on a registry of the Metrics value's own, never the global
// one. docs/security-limits.md lists the metrics with their labels;
// docs/operations.md the alerts and the dashboard built on them.
package metrics
