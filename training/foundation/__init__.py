"""ToyWorld's foundation models: LLaVA-1.5's stages 0 and 1 in miniature (see recipe.py)."""
