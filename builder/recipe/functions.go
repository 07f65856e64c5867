package recipe

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// functions returns the recipe's function table: go-cty's standard library
// under the names Packer and Terraform users know, plus file functions
// whose relative paths resolve against baseDir, the recipe's directory.
func functions(baseDir string) map[string]function.Function {
	funcs := map[string]function.Function{
		"abs": stdlib.AbsoluteFunc, "ceil": stdlib.CeilFunc, "floor": stdlib.FloorFunc,
		"log": stdlib.LogFunc, "max": stdlib.MaxFunc, "min": stdlib.MinFunc,
		"parseint": stdlib.ParseIntFunc, "pow": stdlib.PowFunc, "signum": stdlib.SignumFunc,
		"chomp": stdlib.ChompFunc, "format": stdlib.FormatFunc, "formatlist": stdlib.FormatListFunc,
		"indent": stdlib.IndentFunc, "join": stdlib.JoinFunc, "lower": stdlib.LowerFunc,
		"regex": stdlib.RegexFunc, "regexall": stdlib.RegexAllFunc, "regex_replace": stdlib.RegexReplaceFunc,
		"replace": stdlib.ReplaceFunc, "split": stdlib.SplitFunc, "strlen": stdlib.StrlenFunc,
		"strrev": stdlib.ReverseFunc, "substr": stdlib.SubstrFunc, "title": stdlib.TitleFunc,
		"trim": stdlib.TrimFunc, "trimprefix": stdlib.TrimPrefixFunc, "trimsuffix": stdlib.TrimSuffixFunc,
		"trimspace": stdlib.TrimSpaceFunc, "upper": stdlib.UpperFunc,
		"chunklist": stdlib.ChunklistFunc, "coalesce": stdlib.CoalesceFunc, "coalescelist": stdlib.CoalesceListFunc,
		"compact": stdlib.CompactFunc, "concat": stdlib.ConcatFunc, "contains": stdlib.ContainsFunc,
		"distinct": stdlib.DistinctFunc, "element": stdlib.ElementFunc, "flatten": stdlib.FlattenFunc,
		"index": stdlib.IndexFunc, "keys": stdlib.KeysFunc, "length": stdlib.LengthFunc,
		"lookup": stdlib.LookupFunc, "merge": stdlib.MergeFunc, "range": stdlib.RangeFunc,
		"reverse": stdlib.ReverseListFunc, "setintersection": stdlib.SetIntersectionFunc,
		"setproduct": stdlib.SetProductFunc, "setsubtract": stdlib.SetSubtractFunc,
		"setunion": stdlib.SetUnionFunc, "slice": stdlib.SliceFunc, "sort": stdlib.SortFunc,
		"values": stdlib.ValuesFunc, "zipmap": stdlib.ZipmapFunc,
		"csvdecode": stdlib.CSVDecodeFunc, "jsondecode": stdlib.JSONDecodeFunc, "jsonencode": stdlib.JSONEncodeFunc,
		"formatdate": stdlib.FormatDateFunc, "timeadd": stdlib.TimeAddFunc,
		"try": tryfunc.TryFunc, "can": tryfunc.CanFunc,
		"base64encode": base64EncodeFunc, "base64decode": base64DecodeFunc,
		"sha256":   hashFunc(func(b []byte) []byte { s := sha256.Sum256(b); return s[:] }),
		"sha512":   hashFunc(func(b []byte) []byte { s := sha512.Sum512(b); return s[:] }),
		"basename": pathFunc(filepath.Base), "dirname": pathFunc(filepath.Dir),
	}
	files := fileFunctions{baseDir: baseDir}
	funcs["file"] = files.readFunc(func(path string, b []byte) (cty.Value, error) {
		if !utf8.Valid(b) {
			return cty.NilVal, fmt.Errorf("%s is not valid UTF-8; use filebase64 for binary files", path)
		}
		return cty.StringVal(string(b)), nil
	})
	funcs["filebase64"] = files.readFunc(func(_ string, b []byte) (cty.Value, error) {
		return cty.StringVal(base64.StdEncoding.EncodeToString(b)), nil
	})
	funcs["filesha256"] = files.readFunc(func(_ string, b []byte) (cty.Value, error) {
		s := sha256.Sum256(b)
		return cty.StringVal(hex.EncodeToString(s[:])), nil
	})
	funcs["fileexists"] = files.existsFunc()
	// templatefile sees every function but itself, so a template cannot
	// recurse into templates.
	funcs["templatefile"] = files.templateFunc(funcs)
	return funcs
}

// fileFunctions resolves paths against the recipe's directory.
type fileFunctions struct{ baseDir string }

func (f fileFunctions) resolve(path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(f.baseDir, path)
}

func (f fileFunctions) readFunc(result func(path string, b []byte) (cty.Value, error)) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			path := f.resolve(args[0].AsString())
			b, err := os.ReadFile(path)
			if err != nil {
				return cty.NilVal, fmt.Errorf("reading %s: %w", path, err)
			}
			return result(path, b)
		},
	})
}

func (f fileFunctions) existsFunc() function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}},
		Type:   function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			path := f.resolve(args[0].AsString())
			st, err := os.Stat(path)
			switch {
			case err == nil && st.IsDir():
				return cty.NilVal, fmt.Errorf("%s is a directory, not a file", path)
			case err == nil:
				return cty.True, nil
			case os.IsNotExist(err):
				return cty.False, nil
			default:
				return cty.NilVal, fmt.Errorf("checking %s: %w", path, err)
			}
		},
	})
}

// templateFunc is Terraform's templatefile: the file is an HCL template
// whose only variables are the given map's keys.
func (f fileFunctions) templateFunc(others map[string]function.Function) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{
			{Name: "path", Type: cty.String},
			{Name: "vars", Type: cty.DynamicPseudoType},
		},
		Type: function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			path := f.resolve(args[0].AsString())
			vars := args[1]
			if !vars.Type().IsObjectType() && !vars.Type().IsMapType() {
				return cty.NilVal, fmt.Errorf("the second argument of templatefile must be a map or object of variables, not %s", vars.Type().FriendlyName())
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return cty.NilVal, fmt.Errorf("reading %s: %w", path, err)
			}
			expr, diags := hclsyntax.ParseTemplate(src, path, hcl.InitialPos)
			if diags.HasErrors() {
				return cty.NilVal, fmt.Errorf("parsing template: %w", diags)
			}
			ctx := &hcl.EvalContext{Variables: map[string]cty.Value{}, Functions: map[string]function.Function{}}
			for name, fn := range others {
				if name != "templatefile" {
					ctx.Functions[name] = fn
				}
			}
			for it := vars.ElementIterator(); it.Next(); {
				k, v := it.Element()
				ctx.Variables[k.AsString()] = v
			}
			out, diags := expr.Value(ctx)
			if diags.HasErrors() {
				return cty.NilVal, fmt.Errorf("rendering template: %w", diags)
			}
			out, err = convertToString(out)
			if err != nil {
				return cty.NilVal, fmt.Errorf("template %s: %w", path, err)
			}
			return out, nil
		},
	})
}

func convertToString(v cty.Value) (cty.Value, error) {
	if !v.Type().Equals(cty.String) {
		return cty.NilVal, fmt.Errorf("result must be a string, not %s", v.Type().FriendlyName())
	}
	return v, nil
}

var base64EncodeFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "str", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return cty.StringVal(base64.StdEncoding.EncodeToString([]byte(args[0].AsString()))), nil
	},
})

var base64DecodeFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "str", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		b, err := base64.StdEncoding.DecodeString(args[0].AsString())
		if err != nil {
			return cty.NilVal, fmt.Errorf("invalid base64: %w", err)
		}
		if !utf8.Valid(b) {
			return cty.NilVal, fmt.Errorf("the decoded bytes are not valid UTF-8")
		}
		return cty.StringVal(string(b)), nil
	},
})

func hashFunc(sum func([]byte) []byte) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "str", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return cty.StringVal(hex.EncodeToString(sum([]byte(args[0].AsString())))), nil
		},
	})
}

func pathFunc(fn func(string) string) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return cty.StringVal(fn(args[0].AsString())), nil
		},
	})
}
