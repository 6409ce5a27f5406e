"""``torch.nn.modules.transformer``: the Transformer layers
(``tg.nn``'s classes, imported from where they live)."""
from ..transformer import (Transformer, TransformerEncoder, TransformerDecoder,
                           TransformerEncoderLayer, TransformerDecoderLayer)

__all__ = ["Transformer", "TransformerEncoder", "TransformerDecoder",
           "TransformerEncoderLayer", "TransformerDecoderLayer"]
