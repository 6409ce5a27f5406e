"""Other neural-network ops: linear, bilinear, dropout, embedding, interpolate, cosine_similarity."""
