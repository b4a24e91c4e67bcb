// Command scale fills a disk store with generated narinfos, or reads one
// it filled, and prints what it measured as JSON. bench/cmd/run starts it
// as a child process, once per step, so that the memory read from
// /proc/self/status is that of the store alone.
//
//	scale -mode fill -dir DIR -n N [-seed S]
//	scale -mode read -dir DIR -n N [-seed S] [-duration D] [-hot H] [-readers R]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/private-nix-cache/private-nix-cache/bench/internal/scale"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench/cmd/scale:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	mode := fs.String("mode", "", "fill or read")
	dir := fs.String("dir", "", "store folder (fill: a fresh one)")
	n := fs.Int("n", 0, "narinfos in the store")
	seed := fs.Uint64("seed", 1, "seed of the generated paths: the same for fill and read")
	var o scale.ReadOptions
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "read: how long the random reads run")
	fs.IntVar(&o.Hot, "hot", 0, "read: narinfo LRU size (default N/100, at least 100)")
	fs.IntVar(&o.Readers, "readers", 0, "read: goroutines reading (default one per core)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || fs.NArg() > 0 {
		return fmt.Errorf("want -mode, -dir and -n, and no arguments")
	}
	g, err := scale.NewGenerator(*seed, *n)
	if err != nil {
		return err
	}
	var res any
	switch *mode {
	case "fill":
		res, err = scale.Fill(*dir, g)
	case "read":
		o.Dir = *dir
		res, err = scale.Read(o, g)
	default:
		return fmt.Errorf("-mode: want fill or read, got %q", *mode)
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}
