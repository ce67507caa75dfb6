package main

import (
	"fmt"
	"io"
)

func rulesTestCmd(args []string, stdout, stderr io.Writer) error {
	return fmt.Errorf("rules test: not implemented yet")
}
