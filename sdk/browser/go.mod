// This folder is a Node.js project (the browser SDK, @latchkey/browser).
// This go.mod only marks it as a module of its own so that `go build ./...`
// and `go test ./...` in the repository root do not descend into its
// node_modules.
module latchkey.invalid/sdk-browser

go 1.26
