// Package mtdtest is a fake MTD flash chip for tests: a file in the test's
// temporary directory that behaves like NOR or NAND flash behind the same
// methods as *mtd.Device. Erasing sets a block to 0xFF, programming can
// only clear bits (NOR) or must hit whole, erased pages (NAND), blocks can
// be bad, and a power cut can be scheduled after any number of programmed
// bytes.
//
// It is what code written against an MTD device (firmware/slot,
// firmware/bootenv) is tested with; it is not a flash simulator for timing
// or wear. A Chip and its Devices are safe for concurrent use.
package mtdtest
