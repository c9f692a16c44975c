// Package stdiotest captures what a function writes to the process's standard output and error,
// for the tests of the command line and of the program.
package stdiotest

import (
	"os"
	"path/filepath"
	"testing"
)

// Capture runs f with os.Stdout and os.Stderr sent to files and returns what each got.
// Tests that use it must not run in parallel: the two are process-wide.
func Capture(t testing.TB, f func()) (stdout, stderr string) {
	t.Helper()
	dir := t.TempDir()
	open := func(name string) *os.File {
		file, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return file
	}
	outFile, errFile := open("stdout"), open("stderr")
	savedOut, savedErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = outFile, errFile
	func() {
		defer func() { os.Stdout, os.Stderr = savedOut, savedErr }()
		f()
	}()
	read := func(file *os.File) string {
		file.Close()
		data, err := os.ReadFile(file.Name())
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	return read(outFile), read(errFile)
}
