package container

import (
	"crypto/rand"
	"math/big"
	"regexp"
)

// ValidName is Docker's rule for container names (without the "/").
var ValidName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// Docker-style generated names: adjective_scientist.
var (
	adjectives = [...]string{"admiring", "agitated", "amazing", "blissful", "bold", "brave", "busy", "charming", "clever", "cool", "dazzling", "determined", "eager", "ecstatic", "elegant", "epic", "fervent", "festive", "focused", "friendly", "gallant", "gifted", "happy", "hopeful", "jolly", "keen", "kind", "laughing", "loving", "magical", "modest", "nifty", "nostalgic", "peaceful", "pensive", "practical", "quirky", "relaxed", "serene", "sharp", "stoic", "sweet", "tender", "trusting", "upbeat", "vibrant", "wizardly", "youthful", "zealous", "zen"}
	scientists = [...]string{"albattani", "archimedes", "babbage", "bohr", "curie", "darwin", "dijkstra", "einstein", "euclid", "faraday", "fermat", "feynman", "galileo", "gauss", "goodall", "hopper", "hypatia", "johnson", "kepler", "knuth", "lamarr", "lovelace", "maxwell", "mayer", "mccarthy", "meitner", "newton", "noether", "pascal", "pasteur", "payne", "ritchie", "sammet", "shannon", "tesla", "thompson", "torvalds", "turing", "wilson", "wozniak"}
)

// GenerateName returns a free "/adjective_name" (with a digit suffix after
// collisions, as Docker does) and reserves it for id.
func (s *Store) GenerateName(id string) string {
	for i := 0; ; i++ {
		name := "/" + pick(adjectives[:]) + "_" + pick(scientists[:])
		if i > 10 {
			n, _ := rand.Int(rand.Reader, big.NewInt(10))
			name += n.String()
		}
		if s.ReserveName(name, id) == nil {
			return name
		}
	}
}

func pick(list []string) string {
	n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(list))))
	return list[n.Int64()]
}
