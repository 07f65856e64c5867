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
		"index": stdlib.IndexFunc, "keys": stdlib.KeysFunc, "length": lengthFunc,
		"lookup": stdlib.LookupFunc, "merge": stdlib.MergeFunc, "range": stdlib.RangeFunc,
		"reverse": stdlib.ReverseListFunc, "setintersection": stdlib.SetIntersectionFunc,
		"setproduct": stdlib.SetProductFunc, "setsubtract": stdlib.SetSubtractFunc,
		"setunion": stdlib.SetUnionFunc, "slice": stdlib.SliceFunc, "sort": stdlib.SortFunc,
		"values": stdlib.ValuesFunc, "zipmap": stdlib.ZipmapFunc,
		"csvdecode": stdlib.CSVDecodeFunc, "jsondecode": stdlib.JSONDecodeFunc, "jsonencode": stdlib.JSONEncodeFunc,
		"formatdate": stdlib.FormatDateFunc, "timeadd": stdlib.TimeAddFunc,
		"try": tryfunc.TryFunc, "can": tryfunc.CanFunc,
		"tostring": stdlib.MakeToFunc(cty.String), "tonumber": stdlib.MakeToFunc(cty.Number),
		"tobool": stdlib.MakeToFunc(cty.Bool), "tolist": stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
		"toset": stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)), "tomap": stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)),
		"base64encode": base64EncodeFunc, "base64decode": base64DecodeFunc,
		"sha256":   hashFunc(func(b []byte) []byte { s := sha256.Sum256(b); return s[:] }),
		"sha512":   hashFunc(func(b []byte) []byte { s := sha512.Sum512(b); return s[:] }),
		"basename": pathFunc(filepath.Base), "dirname": pathFunc(filepath.Dir),
		"nonsensitive": nonsensitiveFunc,
	}
	files := fileFunctions{baseDir: baseDir}
	funcs["file"] = files.readFunc(func(shown string, b []byte) (cty.Value, error) {
		if !utf8.Valid(b) {
			return cty.NilVal, fmt.Errorf("%s is not valid UTF-8; use filebase64 for binary files", shown)
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

// resolveAgainst resolves a host path written in a recipe against the
// recipe's directory.
func resolveAgainst(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// pathArg resolves a path argument and names it for error messages. The
// argument may be marked sensitive: its name is then kept out of errors,
// and the marks are returned to be put on the result.
func (f fileFunctions) pathArg(arg cty.Value) (path, shown string, marks cty.ValueMarks) {
	arg, marks = arg.Unmark()
	path = resolveAgainst(f.baseDir, arg.AsString())
	shown = path
	if _, secret := marks[sensitiveMark]; secret {
		shown = "a file whose path is sensitive"
	}
	return path, shown, marks
}

func (f fileFunctions) readFunc(result func(shown string, b []byte) (cty.Value, error)) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String, AllowMarked: true}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			path, shown, marks := f.pathArg(args[0])
			b, err := os.ReadFile(path)
			if err != nil {
				return cty.NilVal, fmt.Errorf("reading %s: %w", shown, fsErr(err))
			}
			v, err := result(shown, b)
			return v.WithMarks(marks), err
		},
	})
}

func (f fileFunctions) existsFunc() function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String, AllowMarked: true}},
		Type:   function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			path, shown, marks := f.pathArg(args[0])
			st, err := os.Stat(path)
			switch {
			case err == nil && st.IsDir():
				return cty.NilVal, fmt.Errorf("%s is a directory, not a file", shown)
			case err == nil:
				return cty.True.WithMarks(marks), nil
			case os.IsNotExist(err):
				return cty.False.WithMarks(marks), nil
			default:
				return cty.NilVal, fmt.Errorf("checking %s: %w", shown, fsErr(err))
			}
		},
	})
}

// templateFunc is Terraform's templatefile: the file is an HCL template
// whose only variables are the given map's keys. Sensitive variables stay
// marked inside the template, so its errors do not print them and its
// result is sensitive too.
func (f fileFunctions) templateFunc(others map[string]function.Function) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{
			{Name: "path", Type: cty.String, AllowMarked: true},
			{Name: "vars", Type: cty.DynamicPseudoType, AllowMarked: true},
		},
		Type: function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			path, shown, marks := f.pathArg(args[0])
			vars, varMarks := args[1].Unmark()
			if !vars.Type().IsObjectType() && !vars.Type().IsMapType() {
				return cty.NilVal, fmt.Errorf("the second argument of templatefile must be a map or object of variables, not %s", vars.Type().FriendlyName())
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return cty.NilVal, fmt.Errorf("reading %s: %w", shown, fsErr(err))
			}
			expr, diags := hclsyntax.ParseTemplate(src, path, hcl.InitialPos)
			if diags.HasErrors() {
				return cty.NilVal, fmt.Errorf("parsing template %s: %w", shown, diags)
			}
			ctx := &hcl.EvalContext{Variables: map[string]cty.Value{}, Functions: map[string]function.Function{}}
			for name, fn := range others {
				if name != "templatefile" {
					ctx.Functions[name] = fn
				}
			}
			if vars.IsKnown() && !vars.IsNull() {
				for it := vars.ElementIterator(); it.Next(); {
					k, v := it.Element()
					ctx.Variables[k.AsString()] = v
				}
			}
			out, diags := expr.Value(ctx)
			if diags.HasErrors() {
				return cty.NilVal, fmt.Errorf("rendering template %s: %w", shown, diags)
			}
			out, outMarks := out.Unmark()
			if !out.IsKnown() {
				// A variable is unknown because of an error reported
				// elsewhere; say nothing more.
				return cty.UnknownVal(cty.String).WithMarks(marks, varMarks, outMarks), nil
			}
			if !out.Type().Equals(cty.String) {
				return cty.NilVal, fmt.Errorf("template %s must produce a string, not %s", shown, out.Type().FriendlyName())
			}
			return out.WithMarks(marks, varMarks, outMarks), nil
		},
	})
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

// nonsensitiveFunc is Terraform's nonsensitive: the recipe says that a
// value computed from a sensitive one may be published, as an image
// property say (see checkPublic). builder still masks the sensitive
// variables' own texts wherever it prints. A value that is not sensitive
// passes unchanged, as in Terraform 1.8 and later, since a value may be
// sensitive under some --var values only.
var nonsensitiveFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType,
		AllowDynamicType: true, AllowUnknown: true, AllowNull: true, AllowMarked: true}},
	Type: func(args []cty.Value) (cty.Type, error) { return args[0].Type(), nil },
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		v, _ := args[0].UnmarkDeep()
		return v, nil
	},
})

// lengthFunc is Terraform's length: collections as go-cty's, and strings
// in characters, because length(var.x) > 0 is the commonest validation.
var lengthFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType, AllowDynamicType: true, AllowUnknown: true, AllowMarked: true}},
	Type: func(args []cty.Value) (cty.Type, error) {
		ty := args[0].Type()
		if ty == cty.String || ty == cty.DynamicPseudoType {
			return cty.Number, nil
		}
		return stdlib.LengthFunc.ReturnType([]cty.Type{ty})
	},
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		v, marks := args[0].Unmark()
		if v.Type() == cty.String {
			n, err := stdlib.Strlen(v)
			return n.WithMarks(marks), err
		}
		n, err := stdlib.Length(v)
		return n.WithMarks(marks), err
	},
})
