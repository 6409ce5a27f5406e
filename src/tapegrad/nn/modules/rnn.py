"""``torch.nn.modules.rnn``: the recurrent layers and cells
(``tg.nn``'s classes, imported from where they live)."""
from ..rnn import RNNBase, RNN, LSTM, GRU
from ..rnn_cell import RNNCellBase, RNNCell, LSTMCell, GRUCell

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]
