"""Chapter 8's questions — What attention costs, and how to pay less (sections 1 and 2 so far: the
cost measured, the online softmax; sections 3 to 5 will add theirs).

``quiz("ch8")`` shows them at the end of the chapter (see :mod:`utils.quiz`). Each option is
``(text, right or not, why)``: every option, wrong ones too, says why.
"""

from utils.quiz.core import Question, ask

__all__ = ["QUESTIONS"]

QUESTIONS: tuple[Question, ...] = (
    ask("Predict from section 1: the readable attention of one head needs 129 MiB at its peak for "
       "\\(T = 4096\\). How much does it need for \\(T = 8192\\)?",
       ("About 514 MiB: four times as much, since its two \\(T \\times T\\) matrices grow with \\(T^2\\).", True,
        "Right: measured in section 1, 129 MiB then 514 MiB, exactly two \\(T \\times T\\) matrices of "
        "float32 and the small output. These are counts, the same on every machine."),
       ("About 258 MiB: twice as much, since the queries, keys, values and output it holds all grow in proportion to \\(T\\).", False,
        "\\(Q\\), \\(K\\) and \\(V\\) do double, but they are a few MiB; the scores and the weights "
        "hold one number per pair of positions, and there are four times as many pairs."),
       ("About 129 MiB again: the softmax works one row at a time.", False,
        "The readable version builds every row at once: the whole \\((T, T)\\) matrix of scores, then "
        "the whole matrix of weights. Section 2 is about not doing that.")),
    ask("Why does a stable softmax subtract the maximum score \\(m\\) before taking exponentials?",
       ("So that no exponential exceeds 1: \\(e^{89}\\) already overflows float32, and \\(m\\) cancels "
        "in the ratio.", True,
        "Right: \\(e^{e_j - m} / \\sum_k e^{e_k - m}\\) is the same softmax, and every term is at most 1."),
       ("To make the weights sharper, so that the position with the largest score takes more of the weight than the "
        "others.", False,
        "The weights do not change at all: the factor \\(e^{-m}\\) is in the numerator and the "
        "denominator, and cancels."),
       ("Because exp is only defined for negative numbers in float32.", False,
        "exp takes any number; the trouble is that for inputs above about 88.7 the result is larger than "
        "the largest float32 and becomes inf.")),
    ask("Two partial results are merged, and block 2's maximum is larger: \\(m_2 > m_1\\). What "
       "happens to block 1's normaliser \\(\\ell_1\\) and output \\(o_1\\)?",
       ("Nothing: they were computed before block 2 arrived, so they are final; only block 2's sums need rescaling.", False,
        "That is the classic mistake: they were computed against \\(m_1\\), and each term "
        "\\(e^{e_j - m_1}\\) must become \\(e^{e_j - m_2}\\) to be added to block 2's."),
       ("Both are multiplied by \\(e^{m_1 - m_2}\\), less than 1, to bring them to the common maximum.", True,
        "Right: \\(e^{e_j - m_1} e^{m_1 - m_2} = e^{e_j - m_2}\\), so the rescaled sums are exactly those "
        "a single pass against \\(m_2\\) would have made."),
       ("Both are divided by block 2's normaliser \\(\\ell_2\\), so that the weights sum to 1.", False,
        "Dividing comes once, at the very end, by the merged \\(\\ell\\); a partial result keeps "
        "its sums unnormalised.")),
    ask("Predict from section 2: attention computed in blocks of 256 keys needs 13 MiB at its peak for "
       "\\(T = 4096\\). How much for \\(T = 8192\\)?",
       ("About 52 MiB: four times as much, like any attention, since there are four times as many scores.", False,
        "There are four times as many scores, but they are never all held at once: a tile of 256 keys "
        "for all \\(T\\) queries is, and it only doubles."),
       ("About 13 MiB again: the block size is fixed, so the memory is fixed.", False,
        "The block size fixes the number of keys in a tile, not the number of queries: every tile "
        "has one row per query, \\(T \\times 256\\) numbers."),
       ("About 26 MiB: twice as much, a few \\((T, 256)\\) tiles.", True,
        "Right: measured in section 2, 13 MiB then 26 MiB, about three tiles of \\(T \\times 256\\) "
        "numbers at every length: memory \\(O(T \\cdot \\text{block})\\).")),
    ask("Does attention computed block by block do less arithmetic than the readable version?",
       ("Yes: it computes \\(T \\times \\text{block}\\) scores instead of \\(T^2\\).", False,
        "That is one tile; it computes a tile for every block of keys, \\(T^2\\) scores in all "
        "(fewer only with a causal mask, whose future blocks it skips)."),
       ("No: every query still meets every key; what shrinks is the memory, and the traffic to it.", True,
        "Right: the multiply-adds are the same, \\(2 T^2 d\\). On a GPU the saving in memory traffic "
        "is what makes FlashAttention fast."),
       ("Yes: the online softmax needs one pass over the scores instead of two.", False,
        "It saves a pass over stored scores, but each score is still computed once and multiplied "
        "with its value; the arithmetic is the same.")),
    ask("What does FlashAttention keep from the forward pass to compute the gradients?",
       ("\\(Q\\), \\(K\\), \\(V\\), the output and one number per query, \\(L = m + \\log \\ell\\).", True,
        "Right: each tile of weights is recomputed as \\(e^{S - L}\\) in the backward pass. Section 2 measured "
        "\\(T (4d + 1)\\) numbers kept by `F.scaled_dot_product_attention`, instead of \\(T^2\\)."),
       ("The \\(T \\times T\\) weights in half precision, which halves their memory.", False,
        "Half precision would halve a \\(T^2\\) cost and keep it \\(T^2\\); FlashAttention keeps "
        "no \\(T \\times T\\) matrix at all."),
       ("Every tile of scores it computed, as autograd does for the blockwise loop, so that nothing is computed twice.", False,
        "That is what autograd does for a Python loop (section 2 measured 2.65 matrices' worth); "
        "FlashAttention's own backward pass avoids it by recomputing the tiles.")),
)
