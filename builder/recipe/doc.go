// Package recipe is builder's recipe language: HCL files that describe an
// image, evaluated into a Plan.
//
// Start with Loader.Load in load.go. It runs in phases, as Packer's
// hcl2template does: parse the file (groupBlocks checks every block
// against blockSchemas in schema.go); resolve variables from their
// defaults, BUILDER_VAR_ environment variables, var files and --var
// options, and run their validations (variables.go); evaluate locals in
// dependency order (locals.go); decode the image, output and environment
// blocks (image.go); decode each step block (steps.go, bootstrap.go,
// template.go) through an attrDecoder (decode.go), which keeps every
// attribute's range and reports each problem once, and the test blocks
// (testblock.go), which change nothing in the image; then check across
// blocks (crosscheck.go).
//
// Recipe mistakes are hcl.Diagnostics with a Subject range, never Go
// errors, so every one reaches the user with file:line:col and a snippet.
// Values of sensitive variables carry a cty mark; everything that prints
// values masks them (see SensitiveText).
package recipe
