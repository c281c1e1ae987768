// Longhorn's way of hashing a snapshot file (longhorn-engine, snapshot hashing): CRC-64 with Go's ISO table
// over a full sequential read of the file, holes read as zeros. The deep-scan benchmark's peer for (c).
// Prints the checksum as Longhorn stores it: 16 lowercase hex digits. Standard library only.
package main

import (
	"fmt"
	"hash/crc64"
	"io"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: longhorn-crc64 FILE")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	h := crc64.New(crc64.MakeTable(crc64.ISO))
	if _, err := io.Copy(h, f); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%016x\n", h.Sum64())
}
