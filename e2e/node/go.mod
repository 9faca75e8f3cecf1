// This folder is a Node.js project (the FeathersJS and oauth4webapi client
// tests that e2e/feathers_test.go and e2e/oauth4webapi_test.go run). This
// go.mod only marks it as a module of its own so that `go build ./...` and
// `go test ./...` in the repository root do not descend into its
// node_modules.
module latchkey.invalid/e2e-node

go 1.26
