"""Chapter 7's questions — The Transformer: attention is all you need.

``quiz("ch7")`` shows them at the end of the chapter (see :mod:`utils.quiz`). Each option is
``(text, right or not, why)``: every option, wrong ones too, says why.
"""

from utils.quiz.core import Question, ask

__all__ = ["QUESTIONS"]

QUESTIONS: tuple[Question, ...] = (
    ask("Which keys may the decoder's self-attention at target position \\(t\\) see?",
        ("Positions \\(0, \\dots, t\\): itself and the target tokens that came before it.", True,
         "Right: the causal mask hides the tokens after \\(t\\), the next one first, since it is "
         "what position \\(t\\) must predict."),
        ("Positions \\(0, \\dots, t+1\\): the past and the token it must predict.", False,
         "Then training would show each position its own answer, and the model would learn to copy it."),
        ("Every target position, since the whole target is known in training.", False,
         "They are known, but at test time they are not: training must see only what decoding will see.")),
    ask("In cross-attention, where do the queries, keys and values come from?",
        ("Queries from the encoder's outputs, keys and values from the decoder.", False,
         "The other way round: there is one output row per target position, so the queries are the decoder's."),
        ("Queries, keys and values all from the encoder's outputs.", False,
         "That is the encoder's self-attention; the decoder would then never ask anything."),
        ("Queries from the decoder, keys and values from the encoder's outputs.", True,
         "Right: each target position asks, and the source answers, as in chapter 4 with the "
         "decoder state as the query.")),
    ask("Predict from section 5: a Transformer whose source positions are counted from the start "
        "only is trained to reverse strings of 4 to 40 symbols. What does it get right?",
        ("About what the plain GRU gets: some short strings, none from 16 symbols on.", True,
         "Right: in the runs section 5 reports, at most half of the 4-symbol strings and none from 16 "
         "on. Output \\(t\\) must find the symbol \\(t\\) places from the end, and positions counted "
         "from the start do not say where the end is. Counted from both ends, it reverses every length."),
        ("Every length, like Bahdanau's decoder: attention removed the bottleneck.", False,
         "Attention can read every symbol, but it must also know which one to read; here that "
         "depends on the length, which its positions do not tell it."),
        ("Long strings better than short ones, since a long string gives more context.", False,
         "The reverse: in the runs section 5 reports, it did best on the shortest strings (at most "
         "half of those of 4 symbols) and got none right from 16 symbols on.")),
    ask("Why can a Transformer be trained on a whole target in one parallel pass?",
        ("The causal mask shows each position what decoding would; no position waits for another.", True,
         "Right: with teacher forcing the inputs are known, and nothing in a block depends on "
         "the previous position's result, unlike \\(s_t = f(s_{t-1}, \\dots)\\)."),
        ("With no recurrence it needs no teacher forcing, so no position ever waits for a token.", False,
         "It is trained with teacher forcing, like the recurrent models: the true previous tokens go in."),
        ("The key–value cache already holds the keys and values of every earlier target position.", False,
         "The cache serves decoding, one token at a time; training needs no cache.")),
    ask("With a key–value cache, what does one decoding step of a decoder layer compute?",
        ("The whole prefix again: a new token changes the keys and values of the earlier ones.", False,
         "Thanks to the causal mask, the past never sees the new token, so its keys and values do not change."),
        ("Only the new token's query, key and value; its key and value join the cache.", True,
         "Right: the attention then reads all cached keys, but nothing is recomputed, and the "
         "output is identical."),
        ("Nothing new: the cache already holds the outputs of the steps still to come.", False,
         "The future is unknown when decoding; the cache stores the past's keys and values.")),
    ask("Predict from section 6: after training, how does the gradient reaching a source symbol, "
        "\\(\\lVert \\partial \\mathcal{L} / \\partial (E x_j) \\rVert\\), vary with its distance "
        "from the end of the source?",
        ("It fades with distance in the plain GRU, not in the Transformer.", True,
         "Right: 30 to 39 steps back, the GRU's is about a fifth of its size at the last tokens in "
         "the stored run, while the Transformer's is at least as large (1.2 times or more in every "
         "seed): every symbol is two attention steps from every output."),
        ("It fades with distance in both models, only more slowly in the Transformer.", False,
         "In the Transformer the path has the same length for every symbol, so nothing makes the "
         "far ones fade: 30 to 39 steps back its gradient was larger than at the end in every seed."),
        ("It fades in neither: a trained model needs every symbol alike.", False,
         "The plain GRU's gradient must cross every later encoder step, and it fades: 30 to 39 steps "
         "back, about a fifth of its size at the last tokens in the stored run.")),
)
