package upstream

// Limits the external tests pad narinfos against.
const (
	MaxNarInfoSize         = maxNarInfoSize
	MaxUnsignedNarInfoSize = maxUnsignedNarInfoSize
)

// MaxRealisationSize is the bound the external tests exceed.
const MaxRealisationSize = maxRealisationSize
