package main

import (
	"errors"
	"io"
)

func gc(args []string, stdout, stderr io.Writer) error     { return errors.New("not yet") }
func verify(args []string, stdout, stderr io.Writer) error { return errors.New("not yet") }
