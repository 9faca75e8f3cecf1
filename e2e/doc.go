// Package e2e holds end-to-end tests: the real latchkey binary, started by
// package e2etest, driven by the real client libraries Latchkey's dialects
// serve. feathers_test.go runs the FeathersJS v5 client (the Node project in
// node/) against `latchkey serve`; aurelia_test.go runs aurelia-authentication
// in an Aurelia app (the Node project in aurelia/, built with the snippets of
// docs/clients.md) in headless Chromium against it.
package e2e
