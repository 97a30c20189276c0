"""Reconstruction of the salient region: plausible variations drawn from a generator (Yeh et al.
2017 latent search) for which the model's outcome holds, and how often it held. METHOD.md part 2.

    from saliency.reconstruction import reconstruct
    rec = reconstruct(image, explanation.saliency, model="my_net", params={"hidden": 0.5})
    rec.acceptance, rec.diversity, rec.variations[0].held
"""
from saliency.catalog.reconstruction import ReconstructionParams
from saliency.reconstruction.reconstruct import Reconstruction, Variation, reconstruct, reconstruct_many

__all__ = ["Reconstruction", "ReconstructionParams", "Variation", "reconstruct", "reconstruct_many"]
