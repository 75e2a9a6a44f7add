// Package flashcli is the patchbay-flash command line, the field
// technician's tool: find the serial port, identify the device, flash a
// verified image. main calls Run; tests call it too.
package flashcli
