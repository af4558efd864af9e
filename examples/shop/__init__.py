"""An example web shop that signs its users in through passgate the right way."""
