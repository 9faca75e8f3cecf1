// This folder is a TypeScript project (the AWS CDK app). This go.mod only
// marks it as a module of its own so that `go build ./...` and `go test ./...`
// in the repository root do not descend into its node_modules, which ship Go
// template files.
module latchkey.invalid/deploy-aws-cdk

go 1.26
