"""Concept questions with immediate feedback, in JupyterLab and in the static book, offline.

``quiz("ch2")`` shows a chapter's questions. Each option is an HTML ``<details>`` element: a
reader opens the option they believe in (click, or Tab then Enter) and reads at once whether it is
right and why; every option carries its own explanation, not only the right one. Nothing needs a
kernel, JavaScript or a network, so the same output works in JupyterLab, in the built book and
in an exported HTML file. Math is written ``\\( … \\)`` inside an element of class
``mathjax_process``, which both JupyterLab's and the book's MathJax typeset. A quiz answer is
never recorded and never changes a grade.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

__all__ = ["Option", "Question", "QUIZZES", "quiz"]


@dataclass(frozen=True)
class Option:
    text: str
    correct: bool
    why: str


@dataclass(frozen=True)
class Question:
    prompt: str
    options: tuple[Option, ...]


def _q(prompt: str, *options: tuple[str, bool, str]) -> Question:
    return Question(prompt, tuple(Option(*o) for o in options))


QUIZZES: dict[str, tuple[Question, ...]] = {
    "ch1": (
        _q("In the plain encoder–decoder of this chapter (GRU, hidden size \\(H\\)), what does the "
           "decoder receive about a source of 60 tokens?",
           ("The \\(H\\) numbers of the last encoder state, \\(c = h_S\\), however long the source.", True,
            "Right: the context has a fixed size. Every token must fit into the same \\(H\\) numbers, "
            "which is the bottleneck the chapter measures."),
           ("\\(60 \\times H\\) numbers: one encoder state per source token.", False,
            "That is what an attention decoder can look at. The plain decoder is given only the last "
            "state \\(h_S\\); the other states are thrown away."),
           ("\\(H/60\\) numbers per token, which the decoder picks.", False,
            "\\(H/S\\) is the budget per token that exercise 1 computes, but nothing picks or separates "
            "the tokens: they are mixed into one vector by the recurrence.")),
        _q("With teacher forcing, what goes into the decoder at step \\(t\\) during training?",
           ("The true previous target token \\(y_{t-1}\\).", True,
            "Right: the decoder is fed the reference, so one early mistake does not derail the rest of "
            "the sentence while it learns."),
           ("The decoder's own most likely token from step \\(t-1\\).", False,
            "That is greedy decoding, which the model must do at test time (and the no-teacher-forcing "
            "case of exercise 3), not teacher forcing."),
           ("The source token \\(x_t\\).", False,
            "The source reaches the decoder only through the context; source and target positions need "
            "not line up (they have different lengths).")),
        _q("Why is a padded position left out of the loss?",
           ("It is not part of any sentence: counting it would reward predicting padding and change "
            "the loss with the batch's longest sentence.", True,
            "Right: the mean runs over real target tokens only, which is what exercise 2's "
            "`masked_cross_entropy` does."),
           ("Because its target id is 0, and \\(\\log 0\\) is undefined.", False,
            "The target id is an index, not a probability: the model would happily predict id 0. The "
            "problem is that padding is not data."),
           ("It is not left out: padding is averaged in, so that every batch has the same weight.", False,
            "Then short sentences in a long batch would count less than the same sentences in a short "
            "batch, and the model would learn to predict padding.")),
    ),
    "ch2": (
        _q("What does attention return for one query?",
           ("A weighted average of the values, with weights from the softmax of the query–key scores.", True,
            "Right: \\(\\sum_j \\alpha_j v_j\\) with \\(\\alpha = \\mathrm{softmax}(e)\\); the keys only "
            "decide the weights."),
           ("A weighted average of the keys.", False,
            "Keys are compared with the query to produce scores; what is averaged are the values "
            "(which may happen to equal the keys, as in the bare lookup example)."),
           ("The value with the highest score.", False,
            "That is an argmax, a hard choice. Soft attention keeps every value, each with its weight, "
            "so the result is differentiable.")),
        _q("Why does the scaled dot score divide by \\(\\sqrt{d_k}\\)?",
           ("With components of unit variance, \\(q^\\top k\\) has variance \\(d_k\\); dividing brings it "
            "back to 1, so the softmax does not saturate as \\(d_k\\) grows.", True,
            "Right (Vaswani et al. 2017): a saturated softmax puts almost all weight on one key and has "
            "vanishing gradients."),
           ("So that the weights sum to one.", False,
            "The softmax makes them sum to one whatever the scale. The scale changes how peaked the "
            "weights are, not their sum."),
           ("To make the score cheaper to compute.", False,
            "Dividing costs one extra operation per score; it is there for the softmax's sake.")),
        _q("Every key of a query is masked (say, a sentence of length 0). What should its weights be?",
           ("All zeros, so that the context is a zero vector.", True,
            "Right: that is the course's convention. A plain softmax of a row of \\(-\\infty\\) would "
            "compute \\(0/0\\)."),
           ("Uniform, \\(1/T_k\\) each.", False,
            "That would attend to positions the mask forbids, such as padding."),
           ("NaN: there is nothing to attend to.", False,
            "NaN is what a plain softmax gives, and it spreads: one NaN row makes the whole loss and "
            "every gradient NaN.")),
    ),
    "ch3": (
        _q("Why is hard attention trained with REINFORCE rather than plain backpropagation?",
           ("Sampling one region is not differentiable, so the gradient of the expected reward is "
            "estimated from \\((r - b)\\,\\nabla \\log \\pi(i)\\).", True,
            "Right (Williams 1992; Xu et al. 2015): the score-function estimator needs only the "
            "log-probability of the sampled region."),
           ("Because soft attention is too slow on images.", False,
            "Speed is not the reason; the chapter's soft model trains faster. The sample has no "
            "gradient, so another estimator is needed."),
           ("Because the glimpse is a weighted average.", False,
            "That is soft attention, which is differentiable and trained by backpropagation.")),
        _q("What does the baseline \\(b\\) change in \\((r - b)\\,\\nabla \\log \\pi(i)\\)?",
           ("The variance of the estimate, not its mean: \\(\\mathbb{E}[\\nabla \\log \\pi(i)] = 0\\).", True,
            "Right: subtracting a constant leaves the expected gradient unchanged and, when \\(b\\) is "
            "close to the average reward, makes single estimates much less noisy (section 11)."),
           ("It makes an otherwise biased estimate unbiased.", False,
            "The estimate is unbiased for any \\(b\\), including \\(b = 0\\)."),
           ("It shifts which regions the model prefers on average.", False,
            "On average it changes nothing; that is why any baseline is allowed. It must not depend "
            "on the sampled region, though.")),
        _q("A soft glimpse \\(z = \\sum_i \\alpha_i a_i\\) with all the weight on region 3 is…",
           ("\\(a_3\\), the feature vector of region 3.", True,
            "Right: a one-hot \\(\\alpha\\) picks one region, which is also what a hard glimpse would "
            "return if it sampled region 3."),
           ("The mean of all regions' vectors.", False,
            "That is the glimpse for uniform weights."),
           ("The number \\(\\alpha_3 = 1\\).", False,
            "The glimpse is a vector in feature space; \\(\\alpha_3\\) is only its weight.")),
    ),
    "ch4": (
        _q("In Bahdanau's decoder, which state is compared with annotation \\(h_j\\) to choose the "
           "context of step \\(i\\)?",
           ("The previous decoder state \\(s_{i-1}\\).", True,
            "Right: \\(e_{ij} = a(s_{i-1}, h_j)\\); the context \\(c_i\\) then goes into the update that "
            "produces \\(s_i\\)."),
           ("The new state \\(s_i\\).", False,
            "That is Luong's order (chapter 5): recurrent step first, then attention from the new "
            "state."),
           ("The annotation \\(h_{j-1}\\) before it.", False,
            "Annotations are what is attended to (keys and values); the query comes from the decoder.")),
        _q("Why does the encoder read the source in both directions?",
           ("So that each annotation \\(h_j\\) sums up the words before and after position \\(j\\).", True,
            "Right: \\(h_j = [\\overrightarrow{h}_j; \\overleftarrow{h}_j]\\), focused on the words around "
            "\\(j\\)."),
           ("To halve the number of parameters.", False,
            "Two directions double the encoder's recurrent parameters."),
           ("So that the decoder can produce the sentence backwards.", False,
            "The decoder still writes left to right; only the annotations change.")),
        _q("Why is \\(U_a h_j\\) computed once per sentence rather than at every decoder step?",
           ("It does not depend on the decoder step, only on the source.", True,
            "Right: only \\(W_a s_{i-1}\\) changes from step to step, so the projected keys are "
            "reused."),
           ("Because \\(U_a\\) is frozen during training.", False,
            "\\(U_a\\) is trained like every other weight; it is simply the same at every step of one "
            "sentence."),
           ("It is not: \\(U_a h_j\\) must be recomputed at every step.", False,
            "Recomputing it would give the same numbers at a cost of one matrix product per step.")),
    ),
    "ch5": (
        _q("Which decoder state is the query in Luong et al.'s attention?",
           ("The current top-layer state \\(h_t\\), after this step's recurrent update.", True,
            "Right: \\(h_t \\to a_t \\to c_t \\to \\tilde h_t\\). Bahdanau's decoder queries with the "
            "previous state instead."),
           ("The previous state \\(s_{t-1}\\), as in Bahdanau's decoder.", False,
            "That is chapter 4's order. Luong's path is simpler: update first, then attend."),
           ("The attentional state \\(\\tilde h_{t-1}\\).", False,
            "\\(\\tilde h_{t-1}\\) is fed into the next step's input (input feeding); it is not the "
            "query.")),
        _q("What does local-p predict?",
           ("A real-valued window centre \\(p_t = S \\cdot \\mathrm{sigmoid}(v_p^\\top \\tanh(W_p h_t))\\); "
            "attention is confined to \\([p_t - D, p_t + D]\\) and weighted by a Gaussian with "
            "\\(\\sigma = D/2\\).", True,
            "Right: \\(p_t\\) is not rounded, and the Gaussian favours positions near it."),
           ("The index of the next target word.", False,
            "The output layer predicts words; local-p predicts where in the source to look."),
           ("The window's half-width \\(D\\).", False,
            "\\(D\\) is fixed in advance (chosen empirically in the paper); only the centre is "
            "predicted.")),
        _q("What is input feeding?",
           ("Concatenating \\(\\tilde h_{t-1}\\) with the next input embedding, so the model knows its "
            "past alignment decisions.", True,
            "Right: without it, each step's attention is decided with no memory of where the "
            "previous steps looked."),
           ("Feeding the source sentence to the decoder a second time.", False,
            "The source reaches the decoder only through attention."),
           ("Another name for teacher forcing.", False,
            "Teacher forcing chooses which token goes in (the true one); input feeding adds the "
            "attentional state next to it.")),
    ),
    "ch6": (
        _q("With a causal mask, which keys may query \\(t\\) attend to?",
           ("Keys \\(0, \\dots, t\\): the lower triangle, diagonal included (`tril()`).", True,
            "Right: a position may see itself and the past, never the future."),
           ("Keys \\(0, \\dots, t-1\\) (`tril(-1)`).", False,
            "Then query 0 has no key at all, and with \\(-\\infty\\) filling its softmax is NaN."),
           ("Keys \\(t, \\dots, T-1\\) (`triu()`).", False,
            "That is the mask the wrong way round: each position would see only the future.")),
        _q("Why does a Transformer add positional encodings to its inputs?",
           ("Self-attention is permutation-equivariant: shuffle the inputs and the outputs are "
            "shuffled the same way, so order is invisible without them.", True,
            "Right: section 4 shows it by permuting a sentence."),
           ("To mask the future.", False,
            "The causal mask does that; positions tell the model where each token is."),
           ("To make the model train faster.", False,
            "They add information about order; without it a model cannot sort or parse at all.")),
        _q("How do \\(h\\) heads split an embedding of size \\(E\\)?",
           ("Along the features: each head gets \\(d = E/h\\) features of every position.", True,
            "Right: view as \\((B, T, h, d)\\), then move the head axis forward."),
           ("Along the positions: each head gets \\(T/h\\) of the tokens.", False,
            "Then no head could relate tokens from different slices; every head must see the whole "
            "sequence."),
           ("They do not split it: each head gets all \\(E\\) features.", False,
            "That is possible but costs \\(h\\) times more; the Transformer keeps the total cost of "
            "all heads close to one full-size head.")),
    ),
    "ch7": (
        _q("Which keys may the decoder's self-attention at target position \\(t\\) see?",
           ("Positions \\(0, \\dots, t\\) of the target: itself and the tokens before it.", True,
            "Right: the causal mask hides the tokens after \\(t\\), the next one first, since it is "
            "what position \\(t\\) must predict."),
           ("Positions \\(0, \\dots, t+1\\): the past and the token it predicts.", False,
            "Then training would show each position its own answer, and the model would learn to copy it."),
           ("Every target position, since all targets are known in training.", False,
            "They are known, but at test time they are not: training must see only what decoding will see.")),
        _q("In cross-attention, where do the queries, keys and values come from?",
           ("Queries from the encoder's outputs, keys and values from the decoder.", False,
            "The other way round: there is one output row per target position, so the queries are the decoder's."),
           ("Queries, keys and values all from the encoder's outputs.", False,
            "That is the encoder's self-attention; the decoder would then never ask anything."),
           ("Queries from the decoder, keys and values from the encoder's outputs.", True,
            "Right: each target position asks, and the source answers, as in chapter 4 with the "
            "decoder state as the query.")),
        _q("Predict from section 5: a Transformer whose source positions are counted from the start "
           "only is trained to reverse strings of 4 to 40 symbols. What does it get right?",
           ("About what the plain GRU gets: some short strings, none from 16 symbols on.", True,
            "Right: output \\(t\\) must find the symbol \\(t\\) places from the end, and positions "
            "counted from the start do not say where the end is. Counted from both ends, it reverses "
            "every length."),
           ("Every length, like Bahdanau's decoder: attention removed the bottleneck.", False,
            "Attention can read every symbol, but it must also know which one to read; here that "
            "depends on the length, which its positions do not tell it."),
           ("Long strings better than short ones, since it sees more context.", False,
            "Measured outside the notebook: 22% to 48% on 4 symbols, 0% from 16 on.")),
        _q("Why can a Transformer be trained on a whole target in one parallel pass?",
           ("The causal mask shows each position what decoding would, and no position waits for another.", True,
            "Right: with teacher forcing the inputs are known, and nothing in a block depends on "
            "the previous position's result, unlike \\(s_t = f(s_{t-1}, \\dots)\\)."),
           ("Because it has no recurrence, so it needs no teacher forcing.", False,
            "It is trained with teacher forcing, like the recurrent models: the true previous tokens go in."),
           ("Because the key–value cache stores every position's result.", False,
            "The cache serves decoding, one token at a time; training needs no cache.")),
        _q("With a key–value cache, what does one decoding step of a decoder layer compute?",
           ("The whole prefix again, since the keys change when a token is added.", False,
            "Thanks to the causal mask, the past never sees the new token, so its keys and values do not change."),
           ("Only the new token's query, key and value; its key and value are appended to the cache.", True,
            "Right: the attention then reads all cached keys, but nothing is recomputed, and the "
            "output is identical."),
           ("Nothing new: the cache stores the outputs of every future step.", False,
            "The future is unknown when decoding; the cache stores the past's keys and values.")),
    ),
}


def _arranged(n: int, options: tuple[Option, ...]) -> tuple[Option, ...]:
    """The options in display order: rotated by the question's number, so that the right answer
    is not always the first one (the order is fixed: every reader sees the same letters)."""
    k = (2 * n) % len(options)
    return options[k:] + options[:k]


class Quiz:
    """A chapter's questions, shown as HTML (``_repr_html_``) or as plain text (``__repr__``)."""

    def __init__(self, key: str, questions: tuple[Question, ...]) -> None:
        self.key, self.questions = key, questions

    def _repr_html_(self) -> str:
        parts = [f'<div class="course-quiz mathjax_process" role="group" aria-label="Check your understanding ({self.key})">']
        for n, q in enumerate(self.questions, 1):
            qid = f"quiz-{self.key}-{n}"
            parts.append(f'<div class="course-quiz-question" role="group" aria-labelledby="{qid}">')
            parts.append(f'<p id="{qid}"><strong>Question {n}.</strong> {_inline(q.prompt)}</p>')
            for letter, option in zip("ABCDEF", _arranged(n, q.options)):
                verdict = "✅ Right." if option.correct else "❌ Not this one."
                parts.append(
                    f'<details class="course-quiz-option"><summary>{letter}. {_inline(option.text)}</summary>'
                    f'<p><strong>{verdict}</strong> {_inline(option.why)}</p></details>')
            parts.append("</div>")
        parts.append("<p><em>Open the option you believe in to see whether it is right, and why. "
                     "Answers are not recorded.</em></p></div>")
        return "\n".join(parts)

    def __repr__(self) -> str:
        lines = []
        for n, q in enumerate(self.questions, 1):
            lines.append(f"Question {n}. {q.prompt}")
            lines += [f"  {letter}. {o.text}" for letter, o in zip("ABCDEF", _arranged(n, q.options))]
        return "\n".join(lines)


def _inline(text: str) -> str:
    """Escape HTML, then render `code` spans; math stays as \\( … \\) for MathJax."""
    out, code = [], False
    for piece in html.escape(text, quote=False).split("`"):
        out.append(f"<code>{piece}</code>" if code else piece)
        code = not code
    return "".join(out)


def quiz(key: str) -> Quiz:
    """The questions of chapter ``key`` (``"ch1"`` … ``"ch7"``), ready to display."""
    if key not in QUIZZES:
        raise KeyError(f"no quiz called {key!r}; there are {', '.join(QUIZZES)}")
    return Quiz(key, QUIZZES[key])
