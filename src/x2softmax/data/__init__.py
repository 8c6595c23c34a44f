"""Face data in the real formats: images, RecordIO, verification .bin sets, IJB meta, alignment, packing, registry."""
