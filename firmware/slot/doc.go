// Package slot writes firmware images into update target slots — the
// inactive half of an A/B pair — and reads them back for verification.
//
// A Slot is a plain file (tests, devices that boot from files), a raw block
// device or partition (eMMC, SD, USB: BLKGETSIZE64 for its size, fsync for
// durability) or an MTD flash partition (erase blocks, NAND bad blocks,
// through package mtd). Every backend passes the same conformance suite,
// slottest.Run.
//
// Writing follows the rules of the update: the image is streamed, never
// held in memory; the slot is invalidated before the first byte is written
// and its first block is written last, after everything else is durable,
// so an interrupted write (power cut, crash, cancelled context) leaves a
// slot whose contents do not verify and whose image header does not boot;
// Commit checks the length and the errors of Sync and Close; and Verify
// reads the slot back and compares its SHA-256 with the signed one before
// anyone may switch the boot environment to it (gokrazy/updater's
// StreamTo, mender's "verify after write").
//
// It does not decide which slot is inactive or switch slots (the agent and
// firmware/bootenv do), and it does not fetch or authenticate images
// (firmware/trust). Slots are safe for concurrent use, but two Writers on
// the same slot at once overwrite each other; a Writer belongs to one
// goroutine.
//
// Errors: ErrTooLarge and *LengthError mean the image does not fit or does
// not match its declared length, and *HashMismatchError that the slot does
// not hold the image; all are permanent for that image. Other errors come
// from the storage (I/O, a failing flash block) and are worth one more
// attempt, by writing the whole image again.
package slot
