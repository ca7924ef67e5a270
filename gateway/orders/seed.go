package orders

import (
	"context"
	"fmt"
)

// SeedRestaurants are the demo restaurants the dev stack starts with.
var SeedRestaurants = []Restaurant{
	{
		ID: "r-pizza", Name: "Pizza Palace",
		Menu: []MenuItem{
			{ID: "margherita", Name: "Margherita", PriceCents: 900},
			{ID: "diavola", Name: "Diavola", PriceCents: 1100},
			{ID: "tiramisu", Name: "Tiramisu", PriceCents: 550},
		},
	},
	{
		ID: "r-sushi", Name: "Sushi Bar",
		Menu: []MenuItem{
			{ID: "salmon-nigiri", Name: "Salmon nigiri (2)", PriceCents: 480},
			{ID: "california-roll", Name: "California roll", PriceCents: 720},
			{ID: "miso-soup", Name: "Miso soup", PriceCents: 300},
		},
	},
}

// Seed writes the restaurants that do not exist yet and returns how many
// it wrote. Running it again changes nothing.
func Seed(ctx context.Context, s *Store, rs []Restaurant) (int, error) {
	n := 0
	for _, r := range rs {
		created, err := s.PutRestaurant(ctx, r)
		if err != nil {
			return n, fmt.Errorf("seed: %w", err)
		}
		if created {
			n++
		}
	}
	return n, nil
}
