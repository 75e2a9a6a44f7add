//go:build !linux

package mtd

import (
	"errors"
	"fmt"
	"os"
)

var errNoMTD = fmt.Errorf("MTD character devices exist only on Linux; use a file or block device slot here: %w", errors.ErrUnsupported)

func getInfo(*os.File) (Info, error)       { return Info{}, errNoMTD }
func erase(*os.File, int64, int64) error   { return errNoMTD }
func unlock(*os.File, int64, int64) error  { return errNoMTD }
func getBad(*os.File, int64) (bool, error) { return false, errNoMTD }
func setBad(*os.File, int64) error         { return errNoMTD }
