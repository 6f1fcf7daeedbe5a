"""Fill the embedding cache for all research datasets (USE first, then e5)."""

from common import banking, clinc_en, clinc_ru, embed

for model in ("use", "e5"):
    for lang in ("en", "ru"):
        embed(model, banking(lang)[0])
    ce = clinc_en()
    for k in ("train", "val", "oos_val", "oos_train", "test", "oos_test"):
        embed(model, ce[k][0])
    cr = clinc_ru()
    for k in cr:
        embed(model, cr[k][0])
