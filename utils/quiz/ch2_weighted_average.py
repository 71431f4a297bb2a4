"""Chapter 2's questions — Attention as a weighted average.

``quiz("ch2")`` shows them at the end of the chapter (see :mod:`utils.quiz`). Each option is
``(text, right or not, why)``: every option, wrong ones too, says why.
"""

from utils.quiz.core import Question, ask

__all__ = ["QUESTIONS"]

QUESTIONS: tuple[Question, ...] = (
    ask("What does attention return for one query?",
        ("A weighted average of the values, weighted by the softmax of the query–key scores.", True,
         "Right: \\(\\sum_j \\alpha_j v_j\\) with \\(\\alpha = \\mathrm{softmax}(e)\\); the keys only "
         "decide the weights."),
        ("A weighted average of the keys, weighted by the softmax of their scores with the query.", False,
         "Keys are compared with the query to produce scores; what is averaged are the values "
         "(which may happen to equal the keys, as in the explorer of section 9)."),
        ("The value whose key scores highest against the query, as a dictionary lookup would.", False,
         "That is a hard choice, the strict lookup of a Python dictionary. Soft attention keeps every "
         "value, each with its weight, so the result is differentiable.")),
    ask("Why do Vaswani et al. divide the dot score by \\(\\sqrt{d_k}\\)?",
        ("With independent unit-variance components, \\(q^\\top k\\) has variance \\(d_k\\); dividing brings it "
         "back to 1.", True,
         "Right: that is their argument, and section 6 measures it. Scores that spread with \\(d_k\\) saturate the softmax, which "
         "then puts almost all weight on one key and passes back tiny gradients."),
        ("So that the weights of each query sum to one over its keys, whatever the size "
         "\\(d_k\\) is.", False,
         "The softmax makes them sum to one whatever the scale. The scale changes how peaked the "
         "weights are, not their sum."),
        ("To turn \\(q^\\top k\\) into the cosine of the angle between \\(q\\) and \\(k\\), "
         "a number in \\([-1, 1]\\).", False,
         "A cosine divides by \\(\\lVert q \\rVert\\,\\lVert k \\rVert\\), which differs from pair to "
         "pair; \\(\\sqrt{d_k}\\) is one fixed number, the typical size of \\(q^\\top k\\) for random "
         "vectors.")),
    ask("Every key of a query is masked (say, a sentence of length 0). What should its weights be?",
        ("All zeros, so that its context is a zero vector.", True,
         "Right: that is the course's rule. A plain softmax of a row of \\(-\\infty\\) computes "
         "\\(0/0\\); section 8 checks that such a row's context is zero, not NaN."),
        ("Uniform, \\(1/T_k\\) each, since no key is preferred over another.", False,
         "That would attend to positions the mask forbids, such as padding, and mix them into the "
         "context."),
        ("NaN, as the softmax of a row of \\(-\\infty\\) gives: there is nothing to attend to.", False,
         "NaN is what a plain softmax gives, and it spreads: one NaN row makes the whole loss and "
         "every gradient NaN.")),
    ask("Predict from section 6: random \\(q\\) and \\(k\\) with independent unit-variance "
        "components, 16 keys per query, unscaled scores \\(q^\\top k\\). What happens to the mean "
        "largest softmax weight as \\(d_k\\) grows from 4 to 1024?",
        ("It climbs towards 1, above 0.95 at \\(d_k = 1024\\): the softmax becomes an argmax.", True,
         "Right: measured in section 6: 0.43 at \\(d_k = 4\\), 0.96 at 1024, and the notebook asserts "
         "above 0.95. The scores spread with standard deviation \\(\\sqrt{d_k}\\), so one key wins by "
         "a wide margin."),
        ("It stays near \\(1/16\\): the keys are random, so on average none of them is preferred.", False,
         "On average none is, but within one query the scores spread with standard deviation "
         "\\(\\sqrt{d_k}\\), so one key wins by a wide margin: 0.96 at \\(d_k = 1024\\) in section 6."),
        ("It stays at about 0.25 at every \\(d_k\\), since the softmax normalises the scores.", False,
         "That is the curve of the scaled score \\(q^\\top k / \\sqrt{d_k}\\). The softmax normalises "
         "the sum of the weights, not the spread of the scores; unscaled, the largest weight climbs "
         "above 0.95.")),
    ask("You shuffle the keys of one query and its values with the same permutation. What happens "
        "to its context vector?",
        ("Nothing: the context is a sum over the keys, and the order of its terms does not matter.", True,
         "Right: each value keeps its own key's weight, and \\(\\sum_j \\alpha_j v_j\\) is the same in "
         "any order; section 8 checks it. Chapter 6 shows why this order blindness needs positions."),
        ("It is shuffled in the same way, since attention returns one row for each key.", False,
         "Attention returns one row per query, \\((B, T_q, d_v)\\); the keys are summed over, so "
         "there is nothing left to shuffle."),
        ("It changes, because each weight \\(\\alpha_j\\) depends on the position \\(j\\) of its "
         "key in the list.", False,
         "A weight depends only on the score of its query and key, \\(e(q, k_j)\\); no position "
         "enters the computation. That is why chapter 6 must add positions to the inputs.")),
    ask("A query has 6 features and the keys have 4. Which of the chapter's four scoring "
        "functions can compare them?",
        ("The general and the additive scores, whose learned matrices bridge the two sizes.", True,
         "Right: \\(q^\\top W_a k\\) with \\(W_a\\) of shape \\(6 \\times 4\\), or "
         "\\(v_a^\\top \\tanh(W_a q + U_a k)\\) with \\(W_a\\) and \\(U_a\\) mapping both to one size."),
        ("The dot and scaled dot scores, summing over the 4 features that the two share.", False,
         "\\(q^\\top k\\) needs vectors of the same size. Dropping 2 of the query's features would be "
         "an arbitrary choice, not a comparison the model learns."),
        ("All four, once the scores are divided by \\(\\sqrt{d_k}\\) to bring them to one "
         "scale.", False,
         "Scaling changes the spread of a score, not which sizes it can compare: the dot products "
         "still need \\(q\\) and \\(k\\) of the same size.")),
)
