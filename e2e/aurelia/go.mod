// This folder is a Node.js project (the Aurelia app that
// e2e/aurelia_test.go builds and drives in Chromium). This go.mod only marks
// it as a module of its own so that `go build ./...` and `go test ./...` in
// the repository root do not descend into its node_modules.
module latchkey.invalid/e2e-aurelia

go 1.26
