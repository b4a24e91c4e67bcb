package main

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
)

// measureFile reports the file if it is over maxFile lines, and, unless it
// is a test file, each function over maxFunc lines.
func measureFile(path string, maxFile, maxFunc int) ([]finding, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var findings []finding
	if n := bytes.Count(src, []byte("\n")); n > maxFile {
		findings = append(findings, finding{key: path, what: fmt.Sprintf("%d lines (limit %d)", n, maxFile)})
	}
	if strings.HasSuffix(path, "_test.go") {
		return findings, nil
	}
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	for _, decl := range file.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok {
			continue
		}
		n := fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1
		if n > maxFunc {
			findings = append(findings, finding{
				key:  path + ":" + funcName(fn),
				what: fmt.Sprintf("%d lines (limit %d)", n, maxFunc),
			})
		}
	}
	return findings, nil
}

// funcName names fn the way gocyclo does: "f", "(T).m" or "(*T).m".
func funcName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	return "(" + typeName(fn.Recv.List[0].Type) + ")." + fn.Name.Name
}

func typeName(t ast.Expr) string {
	switch t := t.(type) {
	case *ast.StarExpr:
		return "*" + typeName(t.X)
	case *ast.IndexExpr: // generic receiver T[P]
		return typeName(t.X)
	case *ast.IndexListExpr:
		return typeName(t.X)
	case *ast.Ident:
		return t.Name
	}
	return fmt.Sprintf("%T", t)
}

// readCyclo reads gocyclo's report: "COMPLEXITY PACKAGE FUNCTION PATH:LINE:COL".
func readCyclo(path string) ([]finding, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var findings []finding
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 4 {
			return nil, fmt.Errorf("%s: unexpected gocyclo line %q", path, sc.Text())
		}
		file, _, _ := strings.Cut(fields[3], ":")
		findings = append(findings, finding{
			key:  strings.TrimPrefix(file, "./") + ":" + fields[2],
			what: "cyclomatic complexity " + fields[0],
		})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return findings, nil
}
