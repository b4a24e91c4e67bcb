package boundedxz

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"github.com/private-nix-cache/private-nix-cache/internal/hostilexz"
	"github.com/ulikunitz/xz"
)

// sample is half random, half repetitive: both LZMA and uncompressed chunks.
func sample(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		if i < n/2 {
			b[i] = byte(r.Uint32())
		} else {
			b[i] = "nix-store "[i%10]
		}
	}
	return b
}

func decode(t *testing.T, file []byte) ([]byte, error) {
	t.Helper()
	r, err := NewReader(bytes.NewReader(file))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func libraryEncode(t *testing.T, c xz.WriterConfig, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := c.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDecodesWhatEncodersWrite(t *testing.T) {
	data := sample(512 << 10)
	one := libraryEncode(t, xz.WriterConfig{}, data[:1000])
	two := libraryEncode(t, xz.WriterConfig{CheckSum: xz.SHA256}, data[1000:])
	cases := map[string]struct {
		file []byte
		want []byte
	}{
		"crc64":               {libraryEncode(t, xz.WriterConfig{}, data), data},
		"crc32":               {libraryEncode(t, xz.WriterConfig{CheckSum: xz.CRC32}, data), data},
		"sha256":              {libraryEncode(t, xz.WriterConfig{CheckSum: xz.SHA256}, data), data},
		"no check":            {libraryEncode(t, xz.WriterConfig{NoCheckSum: true}, data), data},
		"blocks":              {libraryEncode(t, xz.WriterConfig{BlockSize: 64 << 10}, data), data},
		"streams and padding": {append(append(append([]byte(nil), one...), make([]byte, 8)...), two...), data},
		"empty":               {libraryEncode(t, xz.WriterConfig{}, nil), nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := decode(t, c.file)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, c.want) {
				t.Fatalf("decoded %d bytes, not the %d encoded", len(got), len(c.want))
			}
		})
	}
}

// The xz tool at its strongest preset writes a 64 MiB dictionary: that
// must still decode, single- and multi-threaded (blocks with sizes).
func TestDecodesXZTool(t *testing.T) {
	if _, err := exec.LookPath("xz"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("xz is not installed")
		}
		t.Skip("xz is not installed")
	}
	data := sample(4 << 20)
	for _, args := range [][]string{{"-9"}, {"-9e", "--check=sha256"}, {"-0", "-T2", "--block-size=1MiB"}, {"-6", "--check=none"}} {
		cmd := exec.Command("xz", append(args, "-c")...)
		cmd.Stdin = bytes.NewReader(data)
		file, err := cmd.Output()
		if err != nil {
			t.Fatalf("xz %v: %v", args, err)
		}
		got, err := decode(t, file)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("xz %v: decoded %d bytes of %d, error %v", args, len(got), len(data), err)
		}
	}
}

// A file asking for a 4 GiB dictionary in every stream is refused before
// anything of that size is allocated.
func TestRefusesHugeDictionary(t *testing.T) {
	file, err := hostilexz.HugeDict(sample(1<<20), 16, hostilexz.DictCode4GiB)
	if err != nil {
		t.Fatal(err)
	}
	// The file is otherwise valid: the library decodes it (not run here,
	// it would allocate 4 GiB per stream).
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = decode(t, file)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrDictTooLarge) {
		t.Fatalf("decoding a 4 GiB dictionary: %v, want ErrDictTooLarge", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Errorf("allocated %d MiB to refuse the file", grew>>20)
	}
}

// Many small streams each asking for 64 MiB would allocate far more
// than they decompress: refused once out of proportion.
func TestRefusesDictionariesOutOfProportion(t *testing.T) {
	file, err := hostilexz.HugeDict(sample(64<<10), 32, 28) // 28: 64 MiB
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = decode(t, file)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrDictTooLarge) {
		t.Fatalf("decoding 32 streams of 64 MiB dictionaries: %v, want ErrDictTooLarge", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 256<<20 {
		t.Errorf("allocated %d MiB to refuse the file", grew>>20)
	}
	// One such stream is fine.
	one, err := hostilexz.HugeDict(sample(64<<10), 1, 28)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decode(t, one); err != nil {
		t.Errorf("one stream with a 64 MiB dictionary: %v", err)
	}
}

// Every byte of a valid file flipped or the file cut anywhere: an error,
// never a panic or wrong output accepted silently.
func TestRefusesDamage(t *testing.T) {
	data := sample(4 << 10)
	file := libraryEncode(t, xz.WriterConfig{CheckSum: xz.CRC32, DictCap: 64 << 10}, data)
	for i := range file {
		bad := append([]byte(nil), file...)
		bad[i] ^= 0x55
		if got, err := decode(t, bad); err == nil && !bytes.Equal(got, data) {
			t.Fatalf("byte %d flipped: wrong output without error", i)
		}
		if _, err := decode(t, file[:i]); err == nil {
			t.Fatalf("cut after %d bytes: no error", i)
		}
	}
	if _, err := decode(t, append(append([]byte(nil), file...), 0, 0)); err == nil {
		t.Error("padding of two bytes: no error")
	}
}

func FuzzReader(f *testing.F) {
	f.Add(libraryEncode(&testing.T{}, xz.WriterConfig{}, sample(300)))
	f.Add(libraryEncode(&testing.T{}, xz.WriterConfig{BlockSize: 100}, sample(300)))
	f.Fuzz(func(t *testing.T, file []byte) {
		r, err := NewReader(bytes.NewReader(file))
		if err != nil {
			return
		}
		got, err := io.ReadAll(r)
		if err != nil {
			return
		}
		// What decodes here decodes the same with the library.
		lr, err := xz.NewReader(bytes.NewReader(file))
		if err != nil {
			t.Fatalf("library refuses what was decoded: %v", err)
		}
		want, err := io.ReadAll(lr)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("library decodes differently: %v", err)
		}
	})
}
