"""Chapter 1's questions — Why attention: the flaws of RNN encoder–decoders, measured.

``quiz("ch1")`` shows them at the end of the chapter (see :mod:`utils.quiz`). Each option is
``(text, right or not, why)``: every option, wrong ones too, says why.
"""

from utils.quiz.core import Question, ask

__all__ = ["QUESTIONS"]

QUESTIONS: tuple[Question, ...] = (
    ask("In the plain encoder–decoder of this chapter (GRU, hidden size \\(H\\)), what does the "
        "decoder receive about a source of 60 tokens?",
        ("The \\(H\\) numbers of the last encoder state, \\(c = h_S\\), however long the source.", True,
         "Right: the context has a fixed size. Every token must fit into the same \\(H\\) numbers, "
         "which is the bottleneck the chapter measures."),
        ("\\(60 \\times H\\) numbers, one encoder state \\(h_j\\) per source token, to read as it likes.", False,
         "That is what an attention decoder can look at (section 6). The plain decoder ignores "
         "`enc_out` and is given only the last state \\(h_S\\)."),
        ("\\(H/60\\) numbers for each token, kept apart in \\(c\\) so that the decoder can pick one.", False,
         "\\(H/S\\) is the budget per token that exercise 1 computes, but nothing keeps the tokens "
         "apart: the recurrence mixes them all into one vector.")),
    ask("With teacher forcing, which token goes into the decoder at step \\(t\\) during training?",
        ("The true previous target token \\(y_{t-1}\\), taken from the reference.", True,
         "Right: the decoder is fed the reference, so one early mistake does not derail the rest of "
         "the sentence while it learns."),
        ("The decoder's own most likely token from step \\(t-1\\), fed back in.", False,
         "That is greedy decoding, which the model must do at test time (and the "
         "`teacher_forcing=False` case of exercise 3), not teacher forcing."),
        ("The source token \\(x_t\\) at the same position, next to the context \\(c\\).", False,
         "The source reaches the decoder only through the context; source and target positions need "
         "not line up, and their lengths may differ.")),
    ask("Why is a padded position left out of the loss?",
        ("It is not data: counting it would reward predicting `<pad>` and tie the loss to the "
         "batch's longest sentence.", True,
         "Right: the mean runs over the real target tokens only, `<eos>` included, which is what "
         "exercise 2's `masked_cross_entropy` computes."),
        ("Its target id is 0, and \\(\\log 0\\) is undefined, so the loss there would be infinite "
         "or NaN.", False,
         "The target id is an index into the vocabulary, not a probability: the model may give id 0 "
         "any probability it likes. The problem is that padding is not data."),
        ("It is not left out: padding is averaged in, so that every batch of 64 carries the same "
         "weight in training.", False,
         "Then a short sentence in a long batch would count less than the same sentence in a short "
         "batch, and the model would learn to predict padding.")),
    ask("Predict from section 3: the GRU encoder–decoder (\\(H = 96\\)), trained on reversals of "
        "every length from 4 to 40, decodes new sources greedily. How does its exact match change "
        "with the length?",
        ("Nearly all right at 4 symbols, then a cliff: almost none right from 16 symbols on.", True,
         "Right: measured in section 3: 99% at 4 symbols and none from 14 on in the stored run; over "
         "eleven seeds, at least 90% at 4 and at most 1% from 16 on. The 96 numbers of \\(c\\) run "
         "out."),
        ("A slow, steady decline, still about half right at 40, since every length was trained.", False,
         "Training on a length does not make room for it in \\(c\\): exact match is 0% beyond 30 "
         "symbols in every seed. Only per-token accuracy falls gently, towards the 10% of guessing."),
        ("Flat near 100%: 96 floats hold 3,072 bits, over twenty times the 133 bits of 40 symbols.", False,
         "That is the budget on paper (exercise 1). The GRU writes with smooth, saturating functions "
         "and cannot use the low-order digits of a number, so in practice \\(c\\) holds far less.")),
    ask("Predict from exercise 4: the trained GRU reverses sources of 16 symbols by greedy "
        "decoding. Which source tokens does it get wrong most often?",
        ("Those it read first, \\(x_1\\) to \\(x_5\\), which it must also write last, after all "
         "the others.", True,
         "Right: measured in section 3: 74% wrong in the first third of the source, 38% in the last "
         "third; the notebook asserts a gap of 20 points or more. Greedy decoding writes them after "
         "all its other mistakes have been fed back."),
        ("Those it read last, \\(x_{12}\\) to \\(x_{16}\\), which it must write first, with no "
         "output to lean on.", False,
         "They are the freshest in \\(c\\): with teacher forcing the token read last is the safest, "
         "and in greedy decoding the last third has far fewer errors than the first."),
        ("All alike, about evenly spread: every source token reaches the decoder through the same "
         "\\(c\\).", False,
         "One vector, but not an even share: each new token partly overwrites the ones before it, "
         "and greedy decoding feeds each mistake back as the next input, so errors pile up at the "
         "end of the output.")),
    ask("After training, the GRU carries the gradient 30 to 39 steps back much better than the "
        "plain RNN does. Why?",
        ("Its gates have learned to keep parts of the state nearly unchanged from step to step.", True,
         "Right: where the update gate \\(z_k\\) is near 1, \\(h_k \\approx h_{k-1}\\) and "
         "\\(\\partial h_k / \\partial h_{k-1}\\) contains \\(\\mathrm{diag}(z_k)\\), close to the "
         "identity there, so the gradient passes almost unchanged."),
        ("It has three times the recurrent weights, so the gradient has more roads back to "
         "\\(x_j\\).", False,
         "More weights do not stop a product of Jacobians from shrinking: untrained, the GRU loses "
         "the signal like the RNN, by a factor of millions or more over 39 steps."),
        ("Its gates start near 1, so the gradient flows back from the very first step of "
         "training.", False,
         "An untrained gate sits near \\(\\sigma(0) = 0.5\\), so the gradient halves at every step, "
         "as in the RNN. The gates help only once training has learned to hold them open.")),
)
