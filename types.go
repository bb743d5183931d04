package shoal

import (
	"fmt"
	"reflect"

	"github.com/shoalhq/shoal/codec"
	"github.com/shoalhq/shoal/process"
)

// declareTypes registers in c the message and state types each kind
// declares (process.KindOptions.Messages and State) that c does not have
// yet, under their Go names (package path and type name, the same on
// every node that runs the same code), and checks that a sample of each
// crosses: encoded, then decoded as the same type. The error names the
// type, the kind and the node.
func declareTypes(node string, kinds *process.Kinds, c *codec.Codec) error {
	for _, kind := range kinds.Names() {
		opts, _ := kinds.Options(kind)
		if opts.PassivateAfter > 0 && opts.State == nil {
			return fmt.Errorf("shoal: start node %s: kind %q: %w: KindOptions.PassivateAfter is set but KindOptions.State is not: declare the type of the state its processes keep while passivated", node, kind, process.ErrInvalid)
		}
		samples := opts.Messages
		if opts.State != nil {
			samples = append(samples[:len(samples):len(samples)], opts.State)
		}
		for i, sample := range samples {
			what := fmt.Sprintf("KindOptions.Messages[%d]", i)
			if i == len(opts.Messages) {
				what = "KindOptions.State"
			}
			if err := declare(c, sample); err != nil {
				return fmt.Errorf("shoal: start node %s: kind %q: %s: %T: %w", node, kind, what, sample, err)
			}
			if err := crosses(c, sample); err != nil {
				return fmt.Errorf("shoal: start node %s: kind %q: %s: %T %w: %w", node, kind, what, sample, process.ErrWontCross, err)
			}
		}
	}
	return nil
}

// declare registers sample's type (its element's, for a pointer) in c
// under its Go name, unless c has it.
func declare(c *codec.Codec, sample any) error {
	t := reflect.TypeOf(sample)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	zero := reflect.New(t).Elem().Interface()
	if _, ok := c.Name(zero); ok {
		return nil
	}
	name := t.String()
	if t.Name() != "" && t.PkgPath() != "" {
		name = t.PkgPath() + "." + t.Name()
	}
	return c.Register(name, zero)
}

// crosses checks that sample encodes and decodes as its own type.
func crosses(c *codec.Codec, sample any) error {
	b, err := c.Marshal(sample)
	if err != nil {
		return err
	}
	back, err := c.Unmarshal(b)
	if err != nil {
		return err
	}
	if reflect.TypeOf(back) != reflect.TypeOf(sample) {
		return fmt.Errorf("decodes as %T", back)
	}
	return nil
}
