package slot

import (
	"io/fs"
	"sync"
)

// Fault injection and open counting for File and Block slots, for the
// external tests that run slottest (which imports this package).

func storageOpener(s Slot) *openFunc {
	switch s := s.(type) {
	case *File:
		return &s.open
	case *Block:
		return &s.open
	}
	panic("slot: no storage hooks for this backend")
}

// FailWritesAfter makes every write to the storage of s (a *File or
// *Block) fail with err once n more bytes have been written.
func FailWritesAfter(s Slot, n int64, err error) {
	open := storageOpener(s)
	inner := *open
	b := &budget{left: n}
	*open = func(path string, flag int, perm fs.FileMode) (storage, error) {
		st, oerr := inner(path, flag, perm)
		if oerr != nil {
			return nil, oerr
		}
		return &failingStorage{storage: st, budget: b, err: err}, nil
	}
}

type budget struct {
	mu   sync.Mutex
	left int64
}

// take returns how many of n bytes may still be written.
func (b *budget) take(n int) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := int(min(int64(n), b.left))
	b.left -= int64(k)
	return k
}

type failingStorage struct {
	storage
	budget *budget
	err    error
}

func (f *failingStorage) WriteAt(p []byte, off int64) (int, error) {
	k := f.budget.take(len(p))
	if k == len(p) {
		return f.storage.WriteAt(p, off)
	}
	n, _ := f.storage.WriteAt(p[:k], off)
	return n, f.err
}

// OpenCounter counts the storage a slot opened and closed.
type OpenCounter struct {
	mu            sync.Mutex
	opens, closes int
}

// Counts returns opens and closes so far.
func (c *OpenCounter) Counts() (opens, closes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opens, c.closes
}

// CountOpens makes s (a *File or *Block) count its storage's opens and
// closes.
func CountOpens(s Slot) *OpenCounter {
	c := &OpenCounter{}
	open := storageOpener(s)
	inner := *open
	*open = func(path string, flag int, perm fs.FileMode) (storage, error) {
		st, err := inner(path, flag, perm)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.opens++
		c.mu.Unlock()
		return &countedStorage{storage: st, c: c}, nil
	}
	return c
}

type countedStorage struct {
	storage
	c *OpenCounter
}

func (s *countedStorage) Close() error {
	s.c.mu.Lock()
	s.c.closes++
	s.c.mu.Unlock()
	return s.storage.Close()
}
