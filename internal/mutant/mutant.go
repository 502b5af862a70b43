// Package mutant applies one mutation, as gremlins names it (a kind, a line
// and a column), to a Go source file. make mutation uses it for a second
// pass over the mutants gremlins reports as not covered: gremlins maps a
// mutant to coverage blocks, and the expressions of a switch case lie in
// none (a case's block starts after its colon), so it never runs them.
package mutant

import (
	"fmt"
	"go/scanner"
	"go/token"
)

// swaps is gremlins' table: for each kind, what an operator becomes.
var swaps = map[string]map[token.Token]token.Token{
	"ARITHMETIC_BASE":       {token.ADD: token.SUB, token.SUB: token.ADD, token.MUL: token.QUO, token.QUO: token.MUL, token.REM: token.MUL},
	"CONDITIONALS_BOUNDARY": {token.GEQ: token.GTR, token.GTR: token.GEQ, token.LEQ: token.LSS, token.LSS: token.LEQ},
	"CONDITIONALS_NEGATION": {token.EQL: token.NEQ, token.NEQ: token.EQL, token.GEQ: token.LSS, token.GTR: token.LEQ, token.LEQ: token.GTR, token.LSS: token.GEQ},
	"INCREMENT_DECREMENT":   {token.INC: token.DEC, token.DEC: token.INC},
	"INVERT_LOGICAL":        {token.LAND: token.LOR, token.LOR: token.LAND},
	"INVERT_LOOPCTRL":       {token.BREAK: token.CONTINUE, token.CONTINUE: token.BREAK},
	"INVERT_NEGATIVES":      {token.SUB: token.ADD},
}

// Apply returns src with the operator at line:col (1-based, the column in
// bytes, as go/token counts) replaced as kind says.
func Apply(src []byte, kind string, line, col int) ([]byte, error) {
	table, ok := swaps[kind]
	if !ok {
		return nil, fmt.Errorf("mutant %s at %d:%d: unknown kind", kind, line, col)
	}
	fset := token.NewFileSet()
	file := fset.AddFile("src.go", -1, len(src))
	var s scanner.Scanner
	var errs scanner.ErrorList
	s.Init(file, src, func(pos token.Position, msg string) { errs.Add(pos, msg) }, 0)
	for {
		pos, tok, _ := s.Scan()
		if tok == token.EOF {
			break
		}
		p := fset.Position(pos)
		if p.Line != line || p.Column != col {
			continue
		}
		to, ok := table[tok]
		if !ok {
			return nil, fmt.Errorf("mutant %s at %d:%d: %q is not one of its operators", kind, line, col, tok)
		}
		out := make([]byte, 0, len(src)+len(to.String()))
		out = append(out, src[:p.Offset]...)
		out = append(out, to.String()...)
		return append(out, src[p.Offset+len(tok.String()):]...), nil
	}
	if errs.Len() > 0 {
		return nil, fmt.Errorf("mutant %s at %d:%d: %w", kind, line, col, errs.Err())
	}
	return nil, fmt.Errorf("mutant %s at %d:%d: no token starts there", kind, line, col)
}
