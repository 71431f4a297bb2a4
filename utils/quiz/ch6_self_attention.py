"""Chapter 6's questions — Self-attention with queries, keys and values.

``quiz("ch6")`` shows them at the end of the chapter (see :mod:`utils.quiz`). Each option is
``(text, right or not, why)``: every option, wrong ones too, says why.
"""

from utils.quiz.core import Question, ask

__all__ = ["QUESTIONS"]

QUESTIONS: tuple[Question, ...] = (
    ask("With a causal mask, which keys may query \\(t\\) attend to?",
        ("Keys \\(0, \\dots, t\\): the lower triangle with its diagonal (`tril()`).", True,
         "Right: a position sees itself and the past, never the future. Section 2 checks it: new "
         "words at positions 4 and 5 leave the outputs at 0 to 3 unchanged."),
        ("Keys \\(0, \\dots, t-1\\): strictly before \\(t\\), no diagonal (`tril(-1)`).", False,
         "Then query 0 has no key at all, and with \\(-\\infty\\) filling its softmax is NaN. A "
         "position may always see itself."),
        ("Keys \\(t, \\dots, T-1\\): itself and the positions after it (`triu()`).", False,
         "That is the mask the wrong way round: each position would see the future it must not know "
         "about.")),
    ask("Why does a Transformer add positional encodings to its inputs?",
        ("Self-attention without a causal mask is permutation-equivariant: on its own it cannot see order.", True,
         "Right: shuffle the inputs and the outputs are shuffled the same way. Section 4 shows it: "
         "\"dog bites man\" and \"man bites dog\" give \"dog\" the same output. A causal mask breaks "
         "the symmetry and leaks some order; an encoder has no such mask."),
        ("To mark the padding positions, so that no query ever attends to them.", False,
         "That is the padding mask's job. A positional encoding is added to every position, real or "
         "padded, and hides nothing."),
        ("To hide the future from a model that writes its output left to right.", False,
         "The causal mask does that, by setting scores to \\(-\\infty\\). An encoding is added to the "
         "inputs and hides nothing.")),
    ask("Multi-head attention with \\(h\\) heads, on inputs of \\(E = d_{model}\\) features: what are "
        "one head's queries, keys and values at each position?",
        ("Vectors of \\(d_k = E/h\\) features, projected from all \\(E\\) input features.", True,
         "Right: \\(W_i^Q\\) is \\(E \\times d_k\\) and reads every input feature. In code the \\(h\\) "
         "matrices sit side by side in one \\(E \\times E\\) `q_proj`, and `split_heads` gives head "
         "\\(i\\) its \\(d_k\\) features of the result."),
        ("Vectors of \\(d_k = E/h\\) features, projected from the head's own \\(E/h\\) input "
         "features.", False,
         "The heads split the projections' output, not their input: each \\(W_i^Q\\) is "
         "\\(E \\times d_k\\), so every head reads all \\(E\\) features of every position."),
        ("Vectors of \\(E\\) features, one full-width projection of the inputs per head.", False,
         "A head could be that wide, but \\(h\\) heads would then cost \\(h\\) times one. The "
         "Transformer uses \\(d_k = E/h\\) (64 = 512/8), so all heads cost about as much as one.")),
    ask("Predict from section 5: the sorter is trained once more, for 100 steps, without positional "
        "encodings. What share of the held-out sequences does it sort exactly right?",
        ("Almost none, under 5%: it cannot tell its positions apart.", True,
         "Right: 0.0% in the stored run. Without positions, output \\(t\\) depends only on the "
         "symbol at \\(t\\) and on the multiset of its symbols (which ones, how often), yet it must be the \\(t\\)-th smallest."),
        ("98% or more, as with positions: each position sees every symbol.", False,
         "Seeing every symbol is not enough: sorting needs order, which self-attention alone cannot "
         "see. Only with sinusoidal or learned positions does it sort 98% or more."),
        ("About half: the short sequences, where there is little to order.", False,
         "Length does not help: in two orders of the same five symbols, one symbol would need two "
         "different outputs, and without positions it gets one.")),
    ask("Predict from section 5: in the trained two-layer sorter, how do the attention rows of "
        "layer 1 and layer 2 compare?",
        ("Layer 2's are sharper, and its top key more often holds the answer.", True,
         "Right: in the stored run, 1.95 nats and 39% in layer 1, 1.20 nats and 84% in layer 2. The "
         "first layer takes stock of the sequence, the second fetches the symbol to output."),
        ("Layer 1's are sharper: it fetches the answer, and layer 2 spreads it.", False,
         "The other way round: layer 1's rows are close to uniform (about \\(e^{1.95} \\approx 7\\) "
         "keys' worth in the stored run), and layer 2's look at the symbol to output."),
        ("Both stay close to uniform: to sort, every symbol matters to each row.", False,
         "Every symbol matters, but once layer 1 has gathered a summary, layer 2 can fetch one: "
         "its rows hold about 3 keys' worth of weight in the stored run, not 7.")),
    ask("Predict from section 7: the sequence length \\(T\\) doubles. By what factor does the memory "
        "of one layer's attention weights grow, and that of the BiLSTM's outputs?",
        ("4 for the weights, 2 for the BiLSTM's outputs.", True,
         "Right: the weights are \\(B \\cdot h \\cdot T \\cdot T\\) numbers, the outputs "
         "\\(B \\cdot T \\cdot 64\\). At \\(T = 1024\\), for a batch of 4, the weights take 64 MiB and "
         "the outputs 1 MiB."),
        ("2 for both: each keeps a set number of values per position.", False,
         "The outputs do, but the weights keep one number per pair of positions and per head, "
         "\\(T \\times T\\), which grows 4 times when \\(T\\) doubles."),
        ("4 for both: the BiLSTM relates every pair of positions too.", False,
         "A recurrence relates positions through its state, one step at a time. It keeps \\(T\\) "
         "outputs of 64 features, which grow 2 times.")),
)
